// The auditors' views: the timeline with filters, verification, any view as of a moment.
// Erased subjects show as erased everywhere: their events stay, their personal data does not.

import { api, p } from './api.js';
import {
  clear, errorText, field, fromLocalInput, full, h, localInput, timeEl,
} from './dom.js';
import { subjectName } from './views-receiver.js';

const TYPES = [
  'alert', 'alert.broadcast', 'alert.acknowledged', 'alert.resolved', 'alert.cancelled',
  'incident', 'incident.reported', 'incident.crime_reference_recorded', 'incident.closed',
  'sighting', 'subject', 'subject.registered', 'subject.photo_added', 'subject.identified', 'subject.erased',
  'warning', 'exclusion', 'exclusion.issued', 'exclusion.proposed', 'exclusion.served', 'exclusion.appealed',
  'exclusion.revoked', 'exclusion.expired', 'exclusion.breached',
  'partnership', 'venue', 'channel', 'member',
];
const SHOW_AT_MOST = 2000;

/** Subjects as they can be seen now: names for the living, "erased" for the erased. */
async function subjectsNow(partnership) {
  const state = await api(p(partnership, '/audit/state'));
  const map = new Map();
  for (const s of state.subjects || []) map.set(s.subject_id, s);
  return { map, position: state.position };
}

export function timelineView(container, ctx) {
  const partnership = ctx.partnership.id;
  const typeInput = h('input', { name: 'type', list: 'event-types', autocomplete: 'off', placeholder: 'e.g. alert or exclusion.issued' });
  const form = h('form', { class: 'panel filters', 'aria-label': 'Filter the timeline' },
    h('datalist', { id: 'event-types' }, TYPES.map((t) => h('option', { value: t }))),
    h('div', { class: 'row' },
      field('Type', typeInput),
      field('Stream', h('input', { name: 'stream', autocomplete: 'off', placeholder: 'e.g. alert-01a2…' })),
      field('Actor', h('input', { name: 'actor', autocomplete: 'off', placeholder: 'username' }))),
    h('div', { class: 'row' },
      field('From (time)', h('input', { type: 'datetime-local', name: 'since' })),
      field('Until (time)', h('input', { type: 'datetime-local', name: 'until' })),
      field('From position', h('input', { type: 'number', name: 'from_position', min: '1', inputmode: 'numeric' })),
      field('To position', h('input', { type: 'number', name: 'to_position', min: '1', inputmode: 'numeric' }))),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary' }, 'Show events'),
      h('button', { type: 'reset', class: 'secondary' }, 'Clear filters')));
  const status = h('p', { class: 'muted', role: 'status', id: 'timeline-status' });
  const body = h('tbody');
  const table = h('table', { class: 'timeline' },
    h('caption', { class: 'visually-hidden' }, 'Events in the log, oldest first'),
    h('thead', {}, h('tr', {}, ['Position', 'When', 'Type', 'Stream', 'Who', 'What'].map((t) => h('th', { scope: 'col' }, t)))),
    body);
  container.append(
    h('div', { class: 'view-head' }, h('h1', {}, 'Timeline'), h('p', { class: 'muted' }, `Every event of ${ctx.partnership.name}, as recorded.`)),
    form, status, h('div', { class: 'table-wrap' }, table));

  form.addEventListener('submit', (e) => { e.preventDefault(); load(); });
  form.addEventListener('reset', () => setTimeout(load, 0));

  let seq = 0;
  async function load() {
    const mine = ++seq;
    const data = new FormData(form);
    const query = new URLSearchParams();
    for (const key of ['type', 'stream', 'actor', 'from_position', 'to_position']) {
      const v = String(data.get(key) || '').trim();
      if (v) query.set(key, v);
    }
    for (const key of ['since', 'until']) {
      const v = fromLocalInput(String(data.get(key) || ''));
      if (v) query.set(key, v);
    }
    status.textContent = 'Loading…';
    try {
      const [text, subjects] = await Promise.all([
        api(p(partnership, `/audit/events?${query}`), { text: true }),
        subjectsNow(partnership),
      ]);
      if (mine !== seq) return;
      const events = text.split('\n').filter(Boolean).map((line) => JSON.parse(line));
      clear(body);
      const shown = events.slice(-SHOW_AT_MOST);
      for (const e of shown) body.append(row(ctx, e, subjects.map));
      const filtered = [...query.keys()].length ? ' matching the filters' : '';
      status.textContent = `${events.length} event${events.length === 1 ? '' : 's'}${filtered}`
        + (events.length > shown.length ? ` (showing the last ${shown.length})` : '');
    } catch (e) {
      if (mine === seq) status.textContent = `Could not load the timeline: ${errorText(e)}`;
    }
  }
  load();
  return null;
}

function row(ctx, e, subjects) {
  const d = e.data || {};
  const subjectId = d.subject_id;
  const subject = subjectId ? subjects.get(subjectId) : null;
  const erased = Boolean(subject && subject.erased) || e.type === 'subject.erased';
  const what = [];
  if (subjectId) {
    what.push(erased
      ? h('span', { class: 'badge erased-badge' }, 'Subject erased')
      : h('span', {}, `Subject: ${subjectName(subject)}`));
  }
  if (d.personal) {
    what.push(h('span', { class: 'muted' }, erased ? ' · personal data erased (key destroyed)' : ' · personal data sealed'));
  }
  const summary = describe(ctx, e);
  if (summary) what.push(h('span', {}, (what.length ? ' · ' : '') + summary));
  const shownData = { ...d };
  if (shownData.personal) shownData.personal = erased ? '[erased]' : '[sealed: encrypted with the subject\'s key]';
  delete shownData.password_hash;
  const detail = h('details', {}, h('summary', {}, 'Details'),
    h('pre', {}, JSON.stringify({
      id: e.id, occurred_at: e.occurred_at, recorded_at: e.recorded_at, actor: e.actor, command_id: e.command_id,
      causation_id: e.causation_id, hash: e.hash, data: shownData,
    }, null, 2)));
  return h('tr', { class: erased ? 'erased' : '', dataset: { position: String(e.position), type: e.type } },
    h('td', { class: 'num' }, String(e.position)),
    h('td', {}, timeEl(e.occurred_at, full)),
    h('td', {}, h('code', {}, e.type)),
    h('td', { class: 'stream' }, e.stream),
    h('td', {}, `${e.actor?.user} (${(e.actor?.role || '').replace('_', ' ')})`),
    h('td', {}, what, detail));
}

// Free text about a subject is sealed with the subject's key in the log itself.
const words = (v) => (typeof v === 'string' ? v : v ? '[sealed with the subject\'s key]' : '');

function describe(ctx, e) {
  const d = e.data || {};
  switch (e.type) {
    case 'alert.broadcast': return `${d.priority}: ${words(d.text)}`;
    case 'alert.acknowledged': return `acknowledged by ${d.user}`;
    case 'incident.reported': return `${d.category} at ${ctx.venueName(d.venue)}: ${d.description}`;
    case 'sighting.recorded': return `seen at ${ctx.venueName(d.venue)}${d.camera ? ` (${d.camera})` : ''}`;
    case 'exclusion.breached': return `breach at ${ctx.venueName(d.venue)}`;
    case 'exclusion.issued': case 'exclusion.proposed': case 'warning.issued': return words(d.reason);
    case 'member.enrolled': return `${d.username} as ${d.role}`;
    case 'venue.added': return d.name;
    case 'subject.erased': return `erased: ${d.reason || ''}`;
    default: return '';
  }
}

export function verifyView(container, ctx) {
  const partnership = ctx.partnership.id;
  const result = h('div', { class: 'panel verify-result', role: 'status', 'aria-live': 'polite', id: 'verify-result' },
    h('p', { class: 'muted' }, 'Not checked yet in this session.'));
  const button = h('button', { type: 'button', class: 'primary big', id: 'verify' }, 'Verify the log');
  button.addEventListener('click', async () => {
    button.disabled = true;
    clear(result).append(h('p', {}, 'Checking every event’s hash…'));
    try {
      const v = await api(p(partnership, '/audit/verify'));
      clear(result);
      result.dataset.ok = String(v.ok);
      if (v.ok) {
        result.append(
          h('p', { class: 'verdict ok' }, `✓ Intact: all ${v.checked} events verified`),
          h('p', {}, 'No event has been altered, removed, inserted or reordered. Erasures destroy keys, never events, so the chain still holds.'));
      } else {
        result.append(
          h('p', { class: 'verdict bad' }, `✗ Broken at position ${v.first_bad_position}`),
          h('p', {}, v.reason || 'The hash chain does not match from this position on.'),
          h('p', {}, `${v.checked} events checked.`));
      }
      result.append(h('p', { class: 'muted small-text' }, 'Checked ', timeEl(new Date().toISOString(), full)));
    } catch (e) {
      clear(result).append(h('p', { class: 'error' }, errorText(e)));
    } finally {
      button.disabled = false;
    }
  });
  container.append(
    h('div', { class: 'view-head' }, h('h1', {}, 'Verify'),
      h('p', { class: 'muted' }, `Check the hash chain of ${ctx.partnership.name}: every event’s hash covers the one before it.`)),
    button, result);
  return null;
}

export function asOfView(container, ctx) {
  const partnership = ctx.partnership.id;
  const moment = h('input', { type: 'datetime-local', name: 'as_of', step: '1', value: localInput(new Date(), true) });
  const position = h('input', { type: 'number', name: 'position', min: '0', inputmode: 'numeric' });
  const error = h('p', { class: 'error', role: 'alert' });
  const form = h('form', { class: 'panel', 'aria-label': 'Choose a moment' },
    h('div', { class: 'row' },
      field('As of (your local time)', moment, 'Empty: as of now.'),
      field('Or at position', position, 'A position wins over a time.')),
    error,
    h('button', { type: 'submit', class: 'primary' }, 'Show the state'));
  const out = h('div', { class: 'asof', id: 'asof-result' });
  container.append(
    h('div', { class: 'view-head' }, h('h1', {}, 'As of'),
      h('p', { class: 'muted' }, 'Every view rebuilt from the log as it stood at a moment. Erased subjects stay erased.')),
    form, out);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    const query = new URLSearchParams();
    if (position.value) query.set('position', position.value);
    else if (moment.value) query.set('as_of', fromLocalInput(moment.value));
    try {
      const state = await api(p(partnership, `/audit/state?${query}`));
      render(state, query);
    } catch (err) {
      error.textContent = errorText(err);
    }
  });

  function render(state, query) {
    clear(out);
    const subjects = new Map((state.subjects || []).map((s) => [s.subject_id, s]));
    const name = (id) => subjectName(subjects.get(id) || { erased: true });
    const when = query.get('position') ? `position ${query.get('position')}`
      : query.get('as_of') ? full(query.get('as_of')) : 'now';
    const alerts = Object.values(state.alerts || {});
    const exclusions = Object.values(state.exclusions || {});
    const incidents = Object.values(state.incidents || {});
    const section = (title, items, empty) => h('section', { class: 'panel' },
      h('h2', {}, `${title} (${items.length})`),
      items.length ? h('ul', { class: 'records' }, items) : h('p', { class: 'muted' }, empty));
    out.append(
      h('p', { class: 'asof-head', role: 'status' }, `${state.name || partnership} as of ${when}: position ${state.position}`),
      section('Venues', Object.values(state.venues || {}).map((v) => h('li', {}, `${v.name} (${v.kind.replace('_', ' ')})`)), 'None.'),
      section('Members', (state.members || []).map((m) => h('li', {}, `${m.username} · ${m.role.replace('_', ' ')}${m.venue ? ` · ${m.venue}` : ''}${m.active ? '' : ' · revoked'}`)), 'None.'),
      section('Subjects', (state.subjects || []).map((s) => h('li', { class: s.erased ? 'erased' : '', dataset: { subjectId: s.subject_id } },
        s.erased ? h('span', { class: 'badge erased-badge' }, 'Erased') : null, s.erased ? ' personal data destroyed' : subjectName(s))), 'None.'),
      section('Exclusions and warnings', [
        ...exclusions.map((x) => h('li', {}, `${name(x.subject_id)} · exclusion ${x.status} · until ${full(x.ends_at)}${x.breaches?.length ? ` · ${x.breaches.length} breach(es)` : ''}`)),
        ...Object.values(state.warnings || {}).map((w) => h('li', {}, `${name(w.subject_id)} · warning${w.lapsed ? ' (lapsed)' : ''}: ${w.reason}`)),
      ], 'None.'),
      section('Alerts', alerts.slice(-50).reverse().map((a) => h('li', {}, `${a.priority} · ${a.status} · ${a.text}`)), 'None.'),
      section('Incidents', incidents.slice(-50).reverse().map((i) => h('li', {}, `${i.category} at ${ctx.venueName(i.venue)} · ${i.status} · ${i.description}`)), 'None.'));
  }
  return null;
}
