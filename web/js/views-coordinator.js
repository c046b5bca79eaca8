// The coordinator's desk: subjects, warnings and exclusions, members and venues.

import { api, p, subjectPhoto } from './api.js';
import {
  clear, date, debounce, errorText, field, h, select, timeEl, toast, uuid, values,
} from './dom.js';
import { live } from './live.js';
import { photo, subjectName } from './views-receiver.js';

const ROLE_LABEL = {
  door_staff: 'Door staff', retail_staff: 'Retail staff', cctv_operator: 'CCTV operator', police: 'Police / PCSO',
  coordinator: 'Coordinator', auditor: 'Auditor', admin: 'Admin',
};
const KINDS = [['night_time', 'Night-time venue'], ['retail', 'Shop'], ['control_room', 'CCTV control room'], ['other', 'Other']];

/** A command straight to the API (coordinators sit at a desk): one Idempotency-Key per submit. */
async function command(path, body, { form } = {}) {
  return api(path, { method: 'POST', json: form ? undefined : body, form, key: uuid() });
}

function errorBox() {
  return h('p', { class: 'error', role: 'alert' });
}

async function run(errorEl, work, done) {
  errorEl.textContent = '';
  try {
    const result = await work();
    if (done) await done(result);
    return result;
  } catch (e) {
    errorEl.textContent = errorText(e);
    return null;
  }
}

// ---- subjects ------------------------------------------------------------------------

export function subjectsView(container, ctx) {
  const partnership = ctx.partnership.id;
  const list = h('ul', { class: 'gallery subjects', 'aria-label': 'Subjects' });
  const count = h('p', { class: 'muted', role: 'status' });
  const search = h('input', { type: 'search', name: 'q', id: 'subject-search', autocomplete: 'off' });

  const error = errorBox();
  const photoInput = h('input', { type: 'file', name: 'image', accept: 'image/jpeg,image/png,image/webp' });
  const form = h('form', { class: 'stack', 'aria-label': 'Register a subject' },
    h('div', { class: 'row' },
      field('Name', h('input', { name: 'name', maxlength: '200', autocomplete: 'off' }), 'Leave empty for an unknown person (ID sought).'),
      field('Also known as', h('input', { name: 'aliases', maxlength: '400', autocomplete: 'off' }), 'Separate with commas.')),
    h('div', { class: 'row' },
      field('Date of birth', h('input', { type: 'date', name: 'date_of_birth' })),
      field('Photo', photoInput)),
    field('Description', h('textarea', { name: 'description', rows: '3', maxlength: '2000' })),
    error,
    h('button', { type: 'submit', class: 'primary' }, 'Register subject'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const v = values(form);
    const body = {
      name: v.name || null,
      aliases: (v.aliases || '').split(',').map((x) => x.trim()).filter(Boolean),
      date_of_birth: v.date_of_birth || null,
      description: v.description || '',
    };
    run(error, async () => {
      const answer = await command(p(partnership, '/subjects'), body);
      const file = photoInput.files?.[0];
      if (file) {
        const data = new FormData();
        data.append('image', file);
        await command(p(partnership, `/subjects/${answer.id}/photos`), null, { form: data });
      }
      return answer;
    }, () => {
      form.reset();
      toast('Subject registered.');
      load();
    });
  });

  container.append(
    h('div', { class: 'view-head' }, h('h1', {}, 'Subjects')),
    h('details', { class: 'panel' }, h('summary', {}, 'Register a subject'), form),
    h('form', { class: 'search', role: 'search', onsubmit: (e) => { e.preventDefault(); load(); } },
      field('Search subjects', search)),
    count,
    list);

  let seq = 0;
  async function load() {
    const mine = ++seq;
    try {
      const subjects = await api(p(partnership, `/subjects?q=${encodeURIComponent(search.value.trim())}`));
      if (mine !== seq) return;
      clear(list);
      subjects.sort((a, b) => (b.registered_at || '').localeCompare(a.registered_at || ''));
      for (const s of subjects) list.append(subjectCard(ctx, s, load));
      count.textContent = `${subjects.length} subject${subjects.length === 1 ? '' : 's'}`;
    } catch (e) {
      count.textContent = `Could not load subjects: ${errorText(e)}`;
    }
  }
  search.addEventListener('input', debounce(load, 250));
  const refresh = debounce(load, 400);
  const onFrame = (event) => { if (event.detail.frame.type.startsWith('subject.')) refresh(); };
  live.on('frame', onFrame);
  load();
  return () => live.off('frame', onFrame);
}

function subjectCard(ctx, s, reload) {
  const partnership = ctx.partnership.id;
  const name = subjectName(s);
  const error = errorBox();
  const actions = h('div', { class: 'actions' });
  const li = h('li', { class: `person${s.erased ? ' erased' : ''}`, dataset: { subjectId: s.subject_id } },
    s.erased ? h('div', { class: 'photo photo-none', role: 'img', 'aria-label': 'Erased' }, 'Erased')
      : photo(s.photos[0] ? subjectPhoto(partnership, s.subject_id, s.photos[0]) : null, `Photo of ${name}`),
    h('div', { class: 'person-body' },
      h('h2', {}, name),
      s.erased ? h('p', { class: 'badge erased-badge' }, 'Personal data erased') : null,
      s.id_sought ? h('p', { class: 'badge' }, 'ID sought') : null,
      s.aliases?.length ? h('p', { class: 'aliases' }, `Also known as ${s.aliases.join(', ')}`) : null,
      s.date_of_birth ? h('p', {}, `Born ${date(s.date_of_birth)}`) : null,
      s.description ? h('p', {}, s.description) : null,
      h('p', { class: 'muted small-text' }, 'Registered ', timeEl(s.registered_at, date),
        s.photos.length ? ` · ${s.photos.length} photo${s.photos.length === 1 ? '' : 's'}` : ''),
      actions,
      error));
  if (s.erased) return li;

  const upload = h('input', { type: 'file', accept: 'image/jpeg,image/png,image/webp', class: 'visually-hidden', id: `photo-${s.subject_id}` });
  upload.addEventListener('change', () => {
    const file = upload.files?.[0];
    if (!file) return;
    const data = new FormData();
    data.append('image', file);
    run(error, () => command(p(partnership, `/subjects/${s.subject_id}/photos`), null, { form: data }), () => {
      toast('Photo added.');
      reload();
    });
  });
  actions.append(
    h('label', { for: upload.id, class: 'button small' }, 'Add photo'), upload,
    h('a', { class: 'button small', href: `#/exclusions?subject=${s.subject_id}` }, 'Warn or exclude'),
    h('button', { type: 'button', class: 'small', onclick: () => exportSubject(ctx, s, error) }, 'Export (subject access)'));

  if (s.id_sought) {
    const nameInput = h('input', { name: 'name', required: true, maxlength: '200', autocomplete: 'off' });
    const identify = h('form', { class: 'inline' }, field('Identified as', nameInput), h('button', { type: 'submit', class: 'small' }, 'Identify'));
    identify.addEventListener('submit', (e) => {
      e.preventDefault();
      run(error, () => command(p(partnership, `/subjects/${s.subject_id}/identify`), { name: nameInput.value.trim(), aliases: [], date_of_birth: null }), () => {
        toast('Subject identified.');
        reload();
      });
    });
    li.querySelector('.person-body').append(identify);
  }

  const erase = h('button', { type: 'button', class: 'small danger' }, 'Erase');
  erase.addEventListener('click', () => {
    const reason = h('input', { name: 'reason', value: 'erasure request', maxlength: '500' });
    const confirmForm = h('form', { class: 'inline confirm' },
      h('p', {}, `Erase ${name}? Their personal data and photos become unreadable everywhere, for good.`),
      field('Reason', reason),
      h('button', { type: 'submit', class: 'small danger' }, 'Erase for good'),
      h('button', { type: 'button', class: 'small', onclick: () => { confirmForm.remove(); erase.hidden = false; erase.focus(); } }, 'Cancel'));
    confirmForm.addEventListener('submit', (e) => {
      e.preventDefault();
      run(error, () => command(p(partnership, `/subjects/${s.subject_id}/erase`), { reason: reason.value.trim() || 'erasure request' }), () => {
        toast('Subject erased.');
        reload();
      });
    });
    erase.hidden = true;
    actions.after(confirmForm);
    reason.focus();
  });
  actions.append(erase);
  return li;
}

async function exportSubject(ctx, s, error) {
  await run(error, () => api(p(ctx.partnership.id, `/subjects/${s.subject_id}/export`)), (data) => {
    const blob = new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' });
    const a = h('a', { href: URL.createObjectURL(blob), download: `subject-${s.subject_id}.json` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  });
}

// ---- warnings and exclusions -----------------------------------------------------------

const STATUS_LABEL = {
  active: 'Active', proposed: 'Proposed – awaiting confirmation', revoked: 'Revoked', expired: 'Expired',
  pending: 'Starts later', ended: 'Ended',
};

export function exclusionsView(container, ctx) {
  const partnership = ctx.partnership.id;
  const wanted = new URLSearchParams((location.hash.split('?')[1] || '')).get('subject');
  const error = errorBox();
  const subjectSlot = h('div');
  const venues = ctx.partnership.venues.filter((v) => v.kind !== 'control_room');
  const kindWarning = h('input', { type: 'radio', name: 'kind', value: 'warning', id: 'kind-warning', checked: true });
  const kindExclusion = h('input', { type: 'radio', name: 'kind', value: 'exclusion', id: 'kind-exclusion' });
  const dates = h('div', { class: 'row', hidden: true },
    field('Starts', h('input', { type: 'date', name: 'starts_at' }), 'Default: now.'),
    field('Ends', h('input', { type: 'date', name: 'ends_at' }), 'Default: 12 months after the start.'));
  const onKind = () => { dates.hidden = !kindExclusion.checked; };
  kindWarning.addEventListener('change', onKind);
  kindExclusion.addEventListener('change', onKind);
  const form = h('form', { class: 'stack', 'aria-label': 'Issue a warning or an exclusion' },
    subjectSlot,
    h('fieldset', {}, h('legend', {}, 'Kind'),
      h('span', { class: 'choice' }, kindWarning, h('label', { for: 'kind-warning' }, 'Warning (yellow card)')),
      h('span', { class: 'choice' }, kindExclusion, h('label', { for: 'kind-exclusion' }, 'Exclusion notice (board decision)'))),
    h('fieldset', {}, h('legend', {}, 'Scope: venues (none ticked means every member venue)'),
      venues.map((v) => {
        const id = `scope-${v.id}`;
        return h('span', { class: 'choice' }, h('input', { type: 'checkbox', name: 'venues', value: v.id, id }), h('label', { for: id }, v.name));
      })),
    dates,
    field('Reason', h('textarea', { name: 'reason', rows: '3', required: true, maxlength: '2000' })),
    error,
    h('button', { type: 'submit', class: 'primary' }, 'Issue'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const v = values(form);
    const body = {
      subject_id: v.subject_id,
      kind: v.kind,
      venues: [].concat(v.venues || []),
      reason: v.reason,
    };
    if (v.kind === 'exclusion') {
      if (v.starts_at) body.starts_at = new Date(`${v.starts_at}T00:00:00`).toISOString();
      if (v.ends_at) body.ends_at = new Date(`${v.ends_at}T23:59:59`).toISOString();
    }
    run(error, () => command(p(partnership, '/exclusions'), body), () => {
      form.reset();
      onKind();
      toast(body.kind === 'warning' ? 'Warning issued.' : 'Exclusion issued.');
      load();
    });
  });
  api(p(partnership, '/subjects')).then((subjects) => {
    const control = h('select', { name: 'subject_id', required: true },
      h('option', { value: '' }, 'Choose a subject'),
      subjects.filter((s) => !s.erased).map((s) => h('option', { value: s.subject_id, selected: s.subject_id === wanted }, subjectName(s))));
    subjectSlot.append(field('Subject', control));
  }).catch((e) => { error.textContent = errorText(e); });

  const filter = select('status', [['all', 'All'], ['active', 'Active'], ['proposed', 'Proposed'], ['revoked', 'Revoked'], ['expired', 'Expired']], 'all', { id: 'exclusion-filter' });
  const list = h('ul', { class: 'records', 'aria-label': 'Exclusions' });
  const listError = h('p', { class: 'error', role: 'alert', id: 'exclusion-error' });
  const warnings = h('ul', { class: 'records', 'aria-label': 'Warnings' });
  filter.addEventListener('change', () => load());
  const issue = h('details', { class: 'panel', open: Boolean(wanted) }, h('summary', {}, 'Issue a warning or an exclusion'), form);
  container.append(
    h('div', { class: 'view-head' }, h('h1', {}, 'Warnings and exclusions')),
    issue,
    h('section', { class: 'panel', 'aria-labelledby': 'exclusions-title' },
      h('div', { class: 'view-head' }, h('h2', { id: 'exclusions-title' }, 'Exclusions'),
        h('div', { class: 'tools' }, field('Show', filter))),
      listError,
      list),
    h('section', { class: 'panel', 'aria-labelledby': 'warnings-title' }, h('h2', { id: 'warnings-title' }, 'Warnings'), warnings));

  async function load() {
    try {
      const [exclusions, issued] = await Promise.all([
        api(p(partnership, `/exclusions?status=${filter.value}`)),
        api(p(partnership, '/warnings')),
      ]);
      clear(list);
      if (!exclusions.length) list.append(h('li', { class: 'muted' }, 'None.'));
      for (const x of exclusions) list.append(exclusionItem(ctx, x, load, listError));
      clear(warnings);
      if (!issued.length) warnings.append(h('li', { class: 'muted' }, 'None.'));
      for (const w of issued.sort((a, b) => (b.issued_at || '').localeCompare(a.issued_at || ''))) {
        warnings.append(h('li', { class: 'record', dataset: { warningId: w.warning_id } },
          h('p', {}, h('strong', {}, subjectName(w.subject)), ' · ', w.live ? 'in force' : 'lapsed', ' · issued ', timeEl(w.issued_at, date),
            ` · ${w.venues.length ? w.venues.map((x) => ctx.venueName(x)).join(', ') : 'every member venue'}`),
          h('p', {}, w.reason)));
      }
    } catch (e) {
      error.textContent = errorText(e);
    }
  }
  const refresh = debounce(load, 400);
  const onFrame = (event) => {
    const t = event.detail.frame.type;
    if (t.startsWith('exclusion.') || t.startsWith('warning.')) refresh();
  };
  live.on('frame', onFrame);
  load();
  return () => live.off('frame', onFrame);
}

const SIX_MONTHS_MS = 182 * 24 * 3600 * 1000;

function exclusionItem(ctx, x, reload, error) {
  const partnership = ctx.partnership.id;
  const s = x.subject;
  const step = (name, label, cls = 'small') => {
    const button = h('button', { type: 'button', class: cls }, label);
    button.addEventListener('click', () => {
      button.disabled = true;
      run(error, () => command(p(partnership, `/exclusions/${x.exclusion_id}/${name}`), { note: null }), () => {
        toast(`${label}: done.`);
        reload();
      }).finally(() => { button.disabled = false; });
    });
    return button;
  };
  const actions = h('div', { class: 'actions' });
  if (x.status === 'proposed') actions.append(step('confirm', 'Confirm exclusion', 'small primary'));
  if (x.status === 'active' || x.status === 'pending') {
    if (!x.served) actions.append(step('serve', 'Mark served'));
    if (!x.appealed) {
      // Six months from the start at the earliest (later if there were further incidents).
      const earliest = new Date(new Date(x.starts_at).getTime() + SIX_MONTHS_MS);
      if (earliest <= new Date()) actions.append(step('appeal', 'Record appeal'));
      else actions.append(h('span', { class: 'muted small-text' }, 'Appeal possible from ', timeEl(earliest.toISOString(), date)));
    }
  }
  if (['active', 'pending', 'proposed'].includes(x.status)) actions.append(step('revoke', 'Revoke', 'small danger'));
  return h('li', { class: `record with-photo status-${x.status}`, dataset: { exclusionId: x.exclusion_id, status: x.status } },
    s.erased ? h('div', { class: 'thumb photo-none', role: 'img', 'aria-label': 'Erased' }, 'Erased')
      : photo(s.photos?.[0] ? subjectPhoto(partnership, s.subject_id, s.photos[0]) : null, `Photo of ${subjectName(s)}`, 'thumb'),
    h('div', {},
      h('p', {}, h('strong', {}, subjectName(s)), ' · ', h('span', { class: `badge state-${x.status}` }, STATUS_LABEL[x.status] || x.status)),
      h('p', {}, `${x.venue_names.join(', ')} · `, timeEl(x.starts_at, date), ' to ', timeEl(x.ends_at, date),
        ` · ${x.served ? 'served' : 'not served'}${x.appealed ? ' · appealed' : ''}`,
        x.breaches?.length ? ` · ${x.breaches.length} breach${x.breaches.length === 1 ? '' : 'es'}` : ''),
      h('p', {}, x.reason),
      actions));
}

// ---- members, venues, channels -------------------------------------------------------------

export function membersView(container, ctx) {
  if (!ctx.partnership) {
    container.append(h('h1', {}, 'Members & venues'), h('p', {}, 'No partnership yet: register one under Partnerships.'));
    return null;
  }
  const partnership = ctx.partnership.id;
  const venueList = h('ul', { class: 'records', 'aria-label': 'Venues' });
  const channelList = h('ul', { class: 'records', 'aria-label': 'Radio channels' });
  const memberBody = h('tbody');

  const venueError = errorBox();
  const venueForm = h('form', { class: 'stack', 'aria-label': 'Add a venue' },
    h('div', { class: 'row' },
      field('Venue id', h('input', { name: 'id', required: true, pattern: '[A-Za-z0-9][A-Za-z0-9_.\\-]*', maxlength: '64', autocomplete: 'off' }), 'Short, no spaces: e.g. red-lion'),
      field('Name', h('input', { name: 'name', required: true, maxlength: '200', autocomplete: 'off' })),
      field('Kind', select('kind', KINDS, 'night_time'))),
    venueError,
    h('button', { type: 'submit', class: 'primary' }, 'Add venue'));
  venueForm.addEventListener('submit', (e) => {
    e.preventDefault();
    run(venueError, () => command(p(partnership, '/venues'), values(venueForm)), async () => {
      venueForm.reset();
      toast('Venue added.');
      await reloadAll();
    });
  });

  const channelError = errorBox();
  const channelForm = h('form', { class: 'stack', 'aria-label': 'Open a radio channel' },
    h('div', { class: 'row' },
      field('Channel id', h('input', { name: 'id', required: true, maxlength: '64', pattern: '[A-Za-z0-9][A-Za-z0-9_.\\-]*', autocomplete: 'off' })),
      field('Channel name', h('input', { name: 'name', required: true, maxlength: '200', autocomplete: 'off' }))),
    channelError,
    h('button', { type: 'submit', class: 'primary' }, 'Open channel'));
  channelForm.addEventListener('submit', (e) => {
    e.preventDefault();
    run(channelError, () => command(p(partnership, '/channels'), values(channelForm)), async () => {
      channelForm.reset();
      toast('Channel opened.');
      await reloadAll();
    });
  });

  const memberError = errorBox();
  // The roles this member may enrol (and revoke), as the server says in `/v1/me`.
  const roles = ctx.enrols;
  const venueSlot = h('div');
  const memberForm = h('form', { class: 'stack', 'aria-label': 'Enrol a member' },
    h('div', { class: 'row' },
      field('Username', h('input', { name: 'username', required: true, maxlength: '64', pattern: '[A-Za-z0-9][A-Za-z0-9_.\\-]*', autocomplete: 'off' })),
      field('Password', h('input', { name: 'password', type: 'password', required: true, minlength: '8', autocomplete: 'new-password' }), 'At least 8 characters.')),
    h('div', { class: 'row' },
      field('Role', select('role', roles.map((r) => [r, ROLE_LABEL[r] || r]), 'door_staff')),
      venueSlot),
    memberError,
    h('button', { type: 'submit', class: 'primary' }, 'Enrol member'));
  memberForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = values(memberForm);
    const body = { username: v.username, password: v.password, role: v.role, venue: v.venue || null };
    run(memberError, () => command(p(partnership, '/members'), body), async () => {
      memberForm.reset();
      toast(`${body.username} enrolled.`);
      await loadMembers();
    });
  });

  container.append(
    h('div', { class: 'view-head' }, h('h1', {}, `Members & venues`), h('p', { class: 'muted' }, ctx.partnership.name)),
    h('section', { class: 'panel', 'aria-labelledby': 'members-title' },
      h('h2', { id: 'members-title' }, 'Members'),
      h('div', { class: 'table-wrap' },
        h('table', {},
          h('caption', { class: 'visually-hidden' }, 'Members of the partnership'),
          h('thead', {}, h('tr', {}, ['Username', 'Role', 'Venue', 'Status'].map((t) => h('th', { scope: 'col' }, t)), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
          memberBody)),
      h('details', {}, h('summary', {}, 'Enrol a member'), memberForm)),
    h('section', { class: 'panel', 'aria-labelledby': 'venues-title' },
      h('h2', { id: 'venues-title' }, 'Venues'), venueList,
      h('details', {}, h('summary', {}, 'Add a venue'), venueForm)),
    h('section', { class: 'panel', 'aria-labelledby': 'channels-title' },
      h('h2', { id: 'channels-title' }, 'Radio channels'), channelList,
      h('details', {}, h('summary', {}, 'Open a channel'), channelForm)));

  function renderVenues() {
    const current = ctx.partnership;
    clear(venueList);
    for (const v of current.venues) {
      const error = errorBox();
      const remove = h('button', { type: 'button', class: 'small danger' }, 'Remove');
      remove.addEventListener('click', () => run(error, () => api(p(partnership, `/venues/${v.id}`), { method: 'DELETE', key: uuid() }), async () => {
        toast(`${v.name} removed.`);
        await reloadAll();
      }));
      venueList.append(h('li', { class: 'record', dataset: { venueId: v.id } },
        h('p', {}, h('strong', {}, v.name), ` · ${v.id} · ${(KINDS.find(([k]) => k === v.kind) || [0, v.kind])[1]} `, remove), error));
    }
    if (!current.venues.length) venueList.append(h('li', { class: 'muted' }, 'No venues yet.'));
    clear(channelList);
    for (const [id, name] of Object.entries(current.channels || {})) {
      channelList.append(h('li', { class: 'record' }, h('p', {}, h('strong', {}, name), ` · ${id}`)));
    }
    clear(venueSlot);
    venueSlot.append(field('Venue', select('venue', [['', 'No venue (whole partnership)'], ...current.venues.map((v) => [v.id, v.name])], '')));
  }

  async function loadMembers() {
    try {
      const members = await api(p(partnership, '/members'));
      clear(memberBody);
      members.sort((a, b) => a.username.localeCompare(b.username));
      for (const m of members) {
        const error = errorBox();
        const cell = h('td', {});
        if (m.active && m.username !== ctx.user && roles.includes(m.role)) {
          const revoke = h('button', { type: 'button', class: 'small danger', 'aria-label': `Revoke access for ${m.username}` }, 'Revoke');
          revoke.addEventListener('click', () => run(error, () => command(p(partnership, `/members/${m.username}/revoke`), {}), async () => {
            toast(`${m.username}: access revoked.`);
            await loadMembers();
          }));
          const device = h('button', { type: 'button', class: 'small', 'aria-label': `One-time device code for ${m.username}` }, 'Device code');
          const shown = h('p', { class: 'device-code', 'aria-live': 'polite' });
          device.addEventListener('click', () => run(error, () => command(p(partnership, `/members/${m.username}/enrolment-code`), {}), (answer) => {
            const until = new Date(answer.expires_at).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short' });
            shown.textContent = `Sign in once on the device as ${m.username} with ${answer.code} (until ${until}).`;
          }));
          cell.append(device, ' ', revoke, shown, error);
        }
        memberBody.append(h('tr', { dataset: { username: m.username } },
          h('td', {}, m.username), h('td', {}, ROLE_LABEL[m.role] || m.role), h('td', {}, ctx.venueName(m.venue) || '—'),
          h('td', {}, m.active ? 'Active' : 'Revoked'), cell));
      }
    } catch (e) {
      memberError.textContent = errorText(e);
    }
  }

  async function reloadAll() {
    try {
      const fresh = await api(p(partnership, ''));
      Object.assign(ctx.partnership, fresh);
      ctx.refreshMe().catch(() => {});
    } catch { /* keep what we have */ }
    renderVenues();
  }

  renderVenues();
  loadMembers();
  reloadAll();
  return null;
}
