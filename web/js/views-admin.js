// The admin's view: partnerships (tenants). Members and venues use the coordinator's view.

import { api } from './api.js';
import { clear, errorText, field, h, toast, uuid, values } from './dom.js';

export function partnershipsView(container, ctx) {
  const list = h('ul', { class: 'records', 'aria-label': 'Partnerships' });
  const error = h('p', { class: 'error', role: 'alert' });
  const form = h('form', { class: 'panel stack', 'aria-labelledby': 'new-partnership' },
    h('h2', { id: 'new-partnership' }, 'Register a partnership'),
    h('div', { class: 'row' },
      field('Partnership id', h('input', { name: 'id', required: true, maxlength: '64', pattern: '[A-Za-z0-9][A-Za-z0-9_.\\-]*', autocomplete: 'off' }), 'Short, no spaces: e.g. kingsbridge'),
      field('Name', h('input', { name: 'name', required: true, maxlength: '200', autocomplete: 'off' }))),
    error,
    h('button', { type: 'submit', class: 'primary' }, 'Register partnership'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    const v = values(form);
    try {
      await api('/v1/partnerships', { method: 'POST', json: { id: v.id, name: v.name }, key: uuid() });
      form.reset();
      toast(`${v.name} registered.`);
      await ctx.refreshMe();
      await load();
    } catch (err) {
      error.textContent = errorText(err);
    }
  });
  container.append(
    h('div', { class: 'view-head' }, h('h1', {}, 'Partnerships')),
    h('section', { class: 'panel', 'aria-label': 'Partnerships on this hub' }, list),
    form);

  async function load() {
    try {
      const partnerships = await api('/v1/partnerships');
      clear(list);
      if (!partnerships.length) list.append(h('li', { class: 'muted' }, 'None yet.'));
      for (const x of partnerships) {
        const manage = h('button', { type: 'button', class: 'small', 'aria-label': `Members and venues of ${x.name}` }, 'Members & venues');
        manage.addEventListener('click', async () => {
          localStorage.setItem('hub.partnership', x.id);
          await ctx.refreshMe();
          ctx.go('members');
        });
        list.append(h('li', { class: 'record', dataset: { partnership: x.id } },
          h('p', {}, h('strong', {}, x.name), ` · ${x.id} · ${x.venues.length} venue${x.venues.length === 1 ? '' : 's'} · ${x.position} events `, manage)));
      }
    } catch (err) {
      error.textContent = errorText(err);
    }
  }
  load();
  return null;
}
