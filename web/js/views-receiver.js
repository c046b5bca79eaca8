// What receivers use: the live feed, the gallery, reports, sightings, and the outbox.

import { api, imageUrl, p, session, subjectPhoto } from './api.js';
import { alarm, setMuted, sound } from './alarm.js';
import {
  announce, clear, date, debounce, errorText, field, fromLocalInput, h, localInput, select, timeEl, toast, values,
} from './dom.js';
import { live } from './live.js';
import { outbox, shrink } from './outbox.js';
import { pushPanel } from './push.js';

const PRIORITY_LABEL = { routine: 'Routine', urgent: 'Urgent', emergency: 'Emergency' };
const STATUS_LABEL = { active: 'Active', resolved: 'Resolved', cancelled: 'Cancelled' };
const CATEGORIES = [
  ['theft', 'Theft'], ['violence', 'Violence'], ['asb', 'Anti-social behaviour'], ['fraud', 'Fraud'],
  ['criminal_damage', 'Criminal damage'], ['refused_entry', 'Refused entry'], ['other', 'Other'],
];

// Acknowledgements on their way: "p/alert_id" → 'socket' | 'queued'.
const pendingAcks = new Map();

// An alert's words; null once the subject it named was erased (the words went with them).
const said = (alert) => alert.text ?? '(words erased with the subject)';

// Sound and vibration wherever the user is in the app, for alerts that are new to them.
live.on('frame', (event) => {
  const { alert, fresh } = event.detail;
  if (!fresh || !alert || alert.status !== 'active') return;
  if (alert.posted_by === session.user) return;
  sound(alert.priority);
  const label = alert.breach_of ? 'Exclusion breach' : `${PRIORITY_LABEL[alert.priority]} alert`;
  announce(`${label}: ${said(alert)}`, alert.priority !== 'routine');
});

outbox.on('sent', (event) => {
  const { item } = event.detail;
  if (item.kind === 'ack') pendingAcks.delete(`${item.partnership}/${item.alertId}`);
});

/** Queue an acknowledgement in the outbox (sent over REST with its own Idempotency-Key). */
async function queueAck(alert) {
  pendingAcks.set(`${alert.partnership}/${alert.alert_id}`, 'queued');
  await outbox.add({
    kind: 'ack',
    alertId: alert.alert_id,
    partnership: alert.partnership,
    path: p(alert.partnership, `/alerts/${alert.alert_id}/ack`),
    json: {},
    label: `Acknowledge: ${said(alert).slice(0, 60)}`,
  });
}

// An acknowledgement sent on a socket that closed before its answer goes by the outbox
// instead (a second acknowledgement by the same user changes nothing).
live.on('state', (event) => {
  if (event.detail === 'live') return;
  for (const [key, mode] of pendingAcks) {
    const alert = live.alerts.get(key);
    if (mode === 'socket' && alert) queueAck(alert);
  }
});

// ---- shared pieces -------------------------------------------------------------------

/** An <img> whose source is fetched with the token (photos are not public). */
export function photo(path, alt, className = 'photo') {
  const img = h('img', { class: className, alt, loading: 'lazy', decoding: 'async' });
  if (!path) {
    img.classList.add('photo-none');
    img.alt = '';
    return h('div', { class: `${className} photo-none`, role: 'img', 'aria-label': alt || 'No photo' }, 'No photo');
  }
  imageUrl(path).then((url) => { img.src = url; }).catch(() => {
    img.replaceWith(h('div', { class: `${className} photo-none`, role: 'img', 'aria-label': 'Photo unavailable' }, 'No photo'));
  });
  return img;
}

export function subjectName(subject) {
  if (!subject) return 'Unknown subject';
  if (subject.erased) return 'Erased subject';
  if (subject.name) return subject.name;
  if (subject.id_sought) return 'Unknown person (ID sought)';
  return 'Unnamed subject';
}

export function venueOptions(ctx, { none } = {}) {
  const venues = ctx.partnership?.venues || [];
  const options = venues.map((v) => [v.id, v.name]);
  return none ? [['', none], ...options] : options;
}

/** The venue a report is most likely about: the user's own, unless that is a control room. */
export function placeVenue(ctx) {
  const venues = ctx.partnership?.venues || [];
  const own = venues.find((v) => v.id === ctx.me.venue);
  if (own && own.kind !== 'control_room') return own.id;
  return (venues.find((v) => v.kind !== 'control_room') || venues[0] || {}).id;
}

/** Subjects a user can pick: those in the gallery, and every subject for those who manage them. */
async function pickableSubjects(ctx) {
  const partnership = ctx.partnership.id;
  if (ctx.can('manage_subjects')) {
    const all = await api(p(partnership, '/subjects'));
    return all.filter((s) => !s.erased);
  }
  const gallery = await api(p(partnership, '/exclusions?status=active'));
  const seen = new Map();
  for (const x of gallery) if (!seen.has(x.subject_id) && !x.subject.erased) seen.set(x.subject_id, x.subject);
  return [...seen.values()];
}

function subjectSelect(name, label, subjects, noneText) {
  const control = h('select', { name },
    h('option', { value: '' }, noneText),
    subjects.map((s) => h('option', { value: s.subject_id }, subjectName(s) + (s.aliases?.length ? ` (${s.aliases.join(', ')})` : ''))));
  return field(label, control);
}

/** The outbox as a list: what waits on this device, what is being sent, what was refused. */
export function outboxPanel() {
  const list = h('ul', { class: 'outbox-list' });
  const heading = h('h2', { id: 'outbox-title' }, 'Outbox');
  const summary = h('p', { class: 'muted', id: 'outbox-summary' });
  const panel = h('section', { class: 'panel outbox', 'aria-labelledby': 'outbox-title', dataset: { testid: 'outbox' } },
    heading, summary, list);
  const render = () => {
    clear(list);
    const items = outbox.items;
    summary.textContent = items.length
      ? `${outbox.pending} waiting on this device; each is sent once, in order, when the connection is back.`
      : 'Nothing waiting: everything you posted has reached the hub.';
    for (const item of items) {
      const status = item.status === 'failed' ? `Refused: ${errorText({ detail: item.error })}`
        : item.status === 'sending' ? 'Sending…' : 'Queued';
      const li = h('li', { class: `outbox-item outbox-${item.status}`, dataset: { status: item.status, kind: item.kind || '' } },
        h('span', { class: 'badge' }, status),
        ' ',
        h('span', { class: 'outbox-label' }, item.label),
        ' ',
        timeEl(item.created));
      if (item.status === 'failed') {
        li.append(' ', h('button', { type: 'button', class: 'small', onclick: () => outbox.dismiss(item.seq) }, 'Dismiss'));
      }
      list.append(li);
    }
    for (const done of outbox.sent.slice(0, 5)) {
      list.append(h('li', { class: 'outbox-item outbox-sent', dataset: { status: 'sent', kind: done.kind || '' } },
        h('span', { class: 'badge' }, 'Sent'), ' ', h('span', { class: 'outbox-label' }, done.label), ' ', timeEl(done.at)));
    }
  };
  render();
  outbox.on('change', render);
  return { panel, stop: () => outbox.off('change', render) };
}

// ---- live feed -----------------------------------------------------------------------

export function liveView(container, ctx) {
  const cards = new Map();
  let showClosed = localStorage.getItem('hub.showClosed') === '1';

  const feed = h('ol', { class: 'feed', 'aria-label': 'Alerts, newest first', id: 'feed' });
  const empty = h('p', { class: 'empty muted' }, 'No alerts yet. New alerts appear here as they happen.');
  const closedToggle = h('input', { type: 'checkbox', id: 'show-closed', checked: showClosed });
  closedToggle.addEventListener('change', () => {
    showClosed = closedToggle.checked;
    localStorage.setItem('hub.showClosed', showClosed ? '1' : '0');
    render();
  });
  const soundToggle = h('input', { type: 'checkbox', id: 'sound-on', checked: !alarm.muted });
  soundToggle.addEventListener('change', () => setMuted(!soundToggle.checked));

  container.append(
    h('div', { class: 'view-head' },
      h('h1', {}, 'Live feed'),
      h('div', { class: 'tools' },
        h('span', { class: 'check' }, closedToggle, h('label', { for: 'show-closed' }, 'Show closed')),
        h('span', { class: 'check' }, soundToggle, h('label', { for: 'sound-on', title: 'Sound and vibration for urgent and emergency alerts' }, 'Sound')))),
    feed,
    empty,
  );
  if (ctx.can('broadcast')) feed.before(broadcastForm(ctx));
  feed.before(pushPanel(ctx)); // folded: one line above the feed

  function card(alert) {
    const key = `${alert.partnership}/${alert.alert_id}`;
    const textId = `alert-text-${alert.alert_id}`;
    const status = h('span', { class: 'status' });
    const acks = h('p', { class: 'acks' });
    const ack = h('button', { type: 'button', class: 'ack big', 'aria-describedby': textId });
    ack.addEventListener('click', () => acknowledge(alert));
    const actions = h('div', { class: 'actions' }, ack);
    let resolve = null;
    if (ctx.can('close_alert') || alert.posted_by === ctx.user) {
      resolve = h('button', { type: 'button', class: 'secondary', 'aria-describedby': textId }, 'Resolve');
      resolve.addEventListener('click', () => close(alert, resolve));
      actions.append(resolve);
    }
    const badges = h('div', { class: 'alert-top' },
      h('span', { class: `badge prio prio-${alert.priority}` }, PRIORITY_LABEL[alert.priority] || alert.priority),
      alert.breach_of ? h('span', { class: 'badge breach' }, 'Exclusion breach') : null,
      status,
      timeEl(alert.posted_at));
    const meta = [
      alert.venue ? ctx.venueName(alert.venue) : 'All venues',
      alert.location,
      ctx.partnership?.channels?.[alert.channel] || alert.channel,
      alert.posted_by === 'hub' ? 'from the hub' : `from ${alert.posted_by}`,
    ].filter(Boolean).join(' · ');
    const body = h('article', { class: 'alert-body', 'aria-labelledby': textId },
      badges,
      alert.subject_id ? subjectRow(ctx, alert) : null,
      h('p', { class: 'alert-text', id: textId }, alert.breach_of ? said(alert).replace(/\s*\(exclusion [^)]*\)\s*$/, '') : said(alert)),
      h('p', { class: 'alert-meta' }, meta),
      acks,
      actions);
    const li = h('li', {
      class: `alert prio-${alert.priority}${alert.breach_of ? ' is-breach' : ''}`,
      dataset: {
        alertId: alert.alert_id, partnership: alert.partnership, position: String(alert.position),
        priority: alert.priority, breach: alert.breach_of ? 'true' : 'false', receivedAt: String(Date.now()),
      },
    }, body);
    const update = () => {
      li.dataset.status = alert.status;
      li.classList.toggle('closed', alert.status !== 'active');
      status.textContent = STATUS_LABEL[alert.status] || alert.status;
      status.className = `status status-${alert.status}`;
      const names = alert.acknowledgements.map((a) => a.user);
      acks.textContent = names.length ? `Acknowledged by ${names.join(', ')}` : 'Not yet acknowledged';
      const mine = names.includes(ctx.user);
      const pending = pendingAcks.get(key);
      ack.disabled = mine || Boolean(pending) || alert.status !== 'active';
      ack.textContent = mine ? 'Acknowledged ✓' : pending === 'queued' ? 'Acknowledgement queued'
        : pending ? 'Acknowledging…' : 'Acknowledge';
      ack.hidden = alert.status !== 'active' && !mine;
      if (resolve) resolve.hidden = alert.status !== 'active';
    };
    update();
    return { li, update };
  }

  function render() {
    const alerts = live.sorted().filter((a) => showClosed || a.status === 'active');
    const wanted = new Set();
    let previous = null;
    for (const alert of alerts) {
      const key = `${alert.partnership}/${alert.alert_id}`;
      wanted.add(key);
      let entry = cards.get(key);
      if (!entry) {
        entry = card(alert);
        cards.set(key, entry);
      } else {
        entry.update();
      }
      const place = previous ? previous.nextSibling : feed.firstChild;
      if (place !== entry.li) feed.insertBefore(entry.li, place);
      previous = entry.li;
    }
    for (const [key, entry] of cards) {
      if (!wanted.has(key)) {
        entry.li.remove();
        cards.delete(key);
      }
    }
    empty.hidden = alerts.length > 0;
  }

  let scheduled = false;
  const later = () => {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => { scheduled = false; render(); });
  };
  const onFrame = (event) => {
    const { alert, fresh } = event.detail;
    if (!alert) return;
    if (fresh) {
      // Put a new alert on screen at once (the breach promise is "within a second").
      render();
      const entry = cards.get(`${alert.partnership}/${alert.alert_id}`);
      if (entry) entry.li.classList.add('fresh');
    } else {
      const key = `${alert.partnership}/${alert.alert_id}`;
      const entry = cards.get(key);
      const frame = event.detail.frame;
      if (frame.type === 'alert.acknowledged' && frame.data.user === ctx.user) pendingAcks.delete(key);
      if (entry) {
        entry.update();
      } else {
        later();
      }
    }
  };
  const onReset = () => render();
  const onAcked = (event) => {
    const key = `${event.detail.partnership}/${event.detail.alert_id}`;
    const entry = cards.get(key);
    if (entry && pendingAcks.get(key) === 'socket') {
      pendingAcks.delete(key);
      entry.update();
    }
  };
  const onOutbox = () => later();
  live.on('frame', onFrame);
  live.on('reset', onReset);
  live.on('acked', onAcked);
  outbox.on('change', onOutbox);
  render();

  async function acknowledge(alert) {
    const key = `${alert.partnership}/${alert.alert_id}`;
    if (live.ackOnSocket(alert)) {
      pendingAcks.set(key, 'socket');
      cards.get(key)?.update();
    } else {
      const queued = queueAck(alert);
      cards.get(key)?.update();
      await queued;
    }
  }

  async function close(alert, button) {
    button.disabled = true;
    await outbox.add({
      kind: 'resolve',
      partnership: alert.partnership,
      path: p(alert.partnership, `/alerts/${alert.alert_id}/resolve`),
      json: { note: null, cancelled: false },
      label: `Resolve: ${said(alert).slice(0, 60)}`,
    });
    button.disabled = false;
  }

  return () => {
    live.off('frame', onFrame);
    live.off('reset', onReset);
    live.off('acked', onAcked);
    outbox.off('change', onOutbox);
  };
}

function subjectRow(ctx, alert) {
  const row = h('div', { class: 'alert-subject' });
  api(p(alert.partnership, `/subjects/${alert.subject_id}`)).then((subject) => {
    const first = subject.photos?.[0];
    row.append(
      photo(first ? subjectPhoto(alert.partnership, subject.subject_id, first) : null, `Photo of ${subjectName(subject)}`, 'thumb'),
      h('div', {}, h('strong', {}, subjectName(subject)),
        subject.description ? h('p', { class: 'muted small-text' }, subject.description) : null),
    );
  }).catch(() => { row.remove(); });
  return row;
}

function broadcastForm(ctx) {
  const partnership = ctx.partnership;
  const channels = Object.entries(partnership?.channels || { main: 'Main net' });
  const priorities = h('fieldset', { class: 'priorities' },
    h('legend', {}, 'Priority'),
    ['routine', 'urgent', 'emergency'].map((level) => {
      const id = `priority-${level}`;
      return h('span', { class: `choice prio-choice-${level}` },
        h('input', { type: 'radio', name: 'priority', id, value: level, checked: level === 'routine' }),
        h('label', { for: id }, PRIORITY_LABEL[level]));
    }));
  const text = h('textarea', { name: 'text', rows: '3', required: true, maxlength: '2000' });
  const subjectSlot = h('div');
  const form = h('form', { class: 'stack', 'aria-label': 'Broadcast an alert' },
    priorities,
    field('Message', text),
    h('div', { class: 'row' },
      field('Channel', select('channel', channels.map(([id, name]) => [id, name]), 'main')),
      field('Venue', select('venue', venueOptions(ctx, { none: 'No particular venue' }), ctx.me.venue || ''))),
    h('div', { class: 'row' },
      field('Location (optional)', h('input', { name: 'location', maxlength: '200', autocomplete: 'off' })),
      subjectSlot),
    h('button', { type: 'submit', class: 'primary big' }, 'Send alert'));
  const details = h('details', { class: 'panel broadcast' }, h('summary', {}, 'Broadcast an alert'), form);
  let subjectsLoaded = false;
  const loadSubjects = () => {
    if (subjectsLoaded || !details.open) return;
    subjectsLoaded = true;
    pickableSubjects(ctx).then((subjects) => {
      subjectSlot.append(subjectSelect('subject_id', 'Subject (optional)', subjects, 'Nobody in particular'));
    }).catch(() => { subjectsLoaded = false; });
  };
  details.addEventListener('toggle', loadSubjects);
  // Those who follow the whole partnership from a desk broadcast most: open it on a wide screen.
  if (ctx.can('follow')) details.open = window.innerWidth >= 900;
  loadSubjects();
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const v = values(form);
    await outbox.add({
      kind: 'alert',
      partnership: partnership.id,
      path: p(partnership.id, '/alerts'),
      json: {
        channel: v.channel || 'main', priority: v.priority || 'routine', text: v.text,
        venue: v.venue || null, location: v.location || null, subject_id: v.subject_id || null,
      },
      label: `Alert (${v.priority || 'routine'}): ${v.text.slice(0, 60)}`,
    });
    form.reset();
    toast(navigator.onLine ? 'Alert sent.' : 'Offline: alert queued, it goes when the connection is back.');
  });
  return details;
}

// ---- gallery -------------------------------------------------------------------------

export function galleryView(container, ctx) {
  const partnership = ctx.partnership.id;
  const search = h('input', { type: 'search', name: 'q', id: 'gallery-search', autocomplete: 'off', placeholder: 'e.g. red hair, Deano' });
  const count = h('p', { class: 'muted', role: 'status', id: 'gallery-count' });
  const grid = h('ul', { class: 'gallery', 'aria-label': 'Active exclusions' });
  // Wording only (the server does the scoping): `/v1/me` does not say whose gallery is their venue's.
  const scope = ctx.me.venue && (ctx.role === 'door_staff' || ctx.role === 'retail_staff')
    ? `People excluded from ${ctx.venueName(ctx.me.venue)}` : 'People under an active exclusion';
  container.append(
    h('div', { class: 'view-head' }, h('h1', {}, 'Gallery'), h('p', { class: 'muted' }, scope)),
    h('form', { class: 'search', role: 'search', onsubmit: (e) => { e.preventDefault(); load(); } },
      field('Search by name or description', search)),
    count,
    grid);
  let seq = 0;
  async function load() {
    const mine = ++seq;
    const q = search.value.trim();
    try {
      const list = await api(p(partnership, `/exclusions?status=active&q=${encodeURIComponent(q)}`));
      if (mine !== seq) return;
      clear(grid);
      for (const x of list) grid.append(galleryCard(partnership, x));
      count.textContent = list.length === 1 ? '1 active exclusion' : `${list.length} active exclusions`;
      if (q) count.textContent += ` matching “${q}”`;
    } catch (e) {
      if (mine === seq) count.textContent = `Could not load the gallery: ${errorText(e)}`;
    }
  }
  search.addEventListener('input', debounce(load, 250));
  const onFrame = (event) => {
    const type = event.detail.frame.type;
    if (type.startsWith('exclusion.') || type.startsWith('subject.')) refresh();
  };
  const refresh = debounce(load, 300);
  live.on('frame', onFrame);
  load();
  return () => live.off('frame', onFrame);
}

function galleryCard(partnership, x) {
  const s = x.subject;
  const first = s.photos?.[0];
  const name = subjectName(s);
  return h('li', { class: 'person', dataset: { exclusionId: x.exclusion_id, subjectId: x.subject_id } },
    photo(first ? subjectPhoto(partnership, s.subject_id, first) : null, `Photo of ${name}`),
    h('div', { class: 'person-body' },
      h('h2', {}, name),
      s.aliases?.length ? h('p', { class: 'aliases' }, `Also known as ${s.aliases.join(', ')}`) : null,
      s.description ? h('p', {}, s.description) : null),
    h('dl', { class: 'terms' },
        h('dt', {}, 'Excluded from'), h('dd', {}, x.venue_names.join(', ')),
        h('dt', {}, 'Until'), h('dd', {}, timeEl(x.ends_at, date)),
        h('dt', {}, 'Terms'), h('dd', {}, x.reason),
        h('dt', {}, 'Notice'), h('dd', {}, x.served ? 'Served' : 'Not yet served', x.appealed ? ' · under appeal' : '')));
}

// ---- report an incident ----------------------------------------------------------------

export function reportView(container, ctx) {
  const partnership = ctx.partnership.id;
  const subjectSlot = h('div');
  const form = h('form', { class: 'panel stack', 'aria-labelledby': 'report-title' },
    h('h2', { id: 'report-title' }, 'Report an incident'),
    h('div', { class: 'row' },
      field('What happened', select('category', CATEGORIES, 'theft')),
      field('Venue', select('venue', venueOptions(ctx), placeVenue(ctx)))),
    field('When', h('input', { type: 'datetime-local', name: 'occurred_at', value: localInput() })),
    field('Details', h('textarea', { name: 'description', rows: '4', required: true, maxlength: '5000' }),
      'Who, what, which way they went. No guesses about identity: link a subject below.'),
    h('div', { class: 'row' },
      field('Loss value (£)', h('input', { type: 'number', name: 'loss_value', min: '0', step: '0.01', inputmode: 'decimal' })),
      subjectSlot),
    h('button', { type: 'submit', class: 'primary big' }, 'Send report'));
  pickableSubjects(ctx).then((subjects) => {
    subjectSlot.append(subjectSelect('subject_id', 'Subject involved (optional)', subjects, 'Nobody known'));
  }).catch(() => {});
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const v = values(form);
    const body = {
      category: v.category,
      venue: v.venue,
      occurred_at: fromLocalInput(v.occurred_at),
      description: v.description,
      loss_value: v.loss_value ? Number(v.loss_value) : 0,
      subject_ids: v.subject_id ? [v.subject_id] : [],
    };
    await outbox.add({
      kind: 'incident',
      partnership,
      path: p(partnership, '/incidents'),
      json: body,
      label: `Incident (${v.category.replace('_', ' ')}) at ${ctx.venueName(v.venue)}: ${v.description.slice(0, 50)}`,
    });
    form.reset();
    form.querySelector('[name=occurred_at]').value = localInput();
    toast(navigator.onLine ? 'Report sent.' : 'Offline: report queued, it goes when the connection is back.');
  });

  const box = outboxPanel();
  const recent = h('ul', { class: 'records', 'aria-label': 'Recent incidents' });
  container.append(
    h('div', { class: 'view-head' }, h('h1', {}, 'Report')),
    form,
    box.panel,
    h('section', { class: 'panel', 'aria-labelledby': 'recent-title' }, h('h2', { id: 'recent-title' }, 'Recent incidents'), recent));

  async function load() {
    try {
      const incidents = await api(p(partnership, '/incidents'));
      clear(recent);
      if (!incidents.length) recent.append(h('li', { class: 'muted' }, 'No incidents yet.'));
      for (const i of incidents.slice(0, 30)) recent.append(incidentItem(ctx, i, load));
    } catch { /* offline: the list waits */ }
  }
  const refresh = debounce(load, 300);
  const onFrame = (event) => { if (event.detail.frame.type.startsWith('incident.')) refresh(); };
  const onSent = (event) => { if (['incident', 'crime-reference'].includes(event.detail.item.kind)) refresh(); };
  live.on('frame', onFrame);
  outbox.on('sent', onSent);
  load();
  return () => {
    box.stop();
    live.off('frame', onFrame);
    outbox.off('sent', onSent);
  };
}

function incidentItem(ctx, i, reload) {
  const category = (CATEGORIES.find(([k]) => k === i.category) || [i.category, i.category])[1];
  const li = h('li', { class: 'record', dataset: { incidentId: i.incident_id } },
    h('p', {}, h('strong', {}, category), ` at ${ctx.venueName(i.venue)} · `, timeEl(i.occurred_at),
      ` · ${i.status === 'open' ? 'open' : `closed (${i.outcome})`}`),
    h('p', {}, i.description),
    h('p', { class: 'muted small-text' },
      `Reported by ${i.reported_by}`,
      i.loss_value ? ` · loss £${Number(i.loss_value).toFixed(2)}` : '',
      i.crime_reference ? ` · crime ref ${i.crime_reference}` : ''));
  if (ctx.can('crime_reference') && !i.crime_reference) {
    const input = h('input', { name: 'crime_reference', maxlength: '64', autocomplete: 'off' });
    const form = h('form', { class: 'inline' }, field('Crime reference', input), h('button', { type: 'submit', class: 'small' }, 'Record'));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!input.value.trim()) return;
      await outbox.add({
        kind: 'crime-reference', partnership: ctx.partnership.id,
        path: p(ctx.partnership.id, `/incidents/${i.incident_id}/crime-reference`),
        json: { crime_reference: input.value.trim() }, label: `Crime reference ${input.value.trim()}`,
      });
      reload();
    });
    li.append(form);
  }
  return li;
}

// ---- sightings -----------------------------------------------------------------------

export function sightingView(container, ctx) {
  const partnership = ctx.partnership.id;
  const subjectSlot = h('div', { class: 'subject-slot' });
  const still = h('input', { type: 'file', name: 'still', accept: 'image/jpeg,image/png,image/webp', capture: 'environment' });
  const preview = h('img', { class: 'preview', alt: 'Preview of the still image', hidden: true });
  still.addEventListener('change', () => {
    const file = still.files?.[0];
    if (preview.src) URL.revokeObjectURL(preview.src);
    if (file) {
      preview.src = URL.createObjectURL(file);
      preview.hidden = false;
    } else {
      preview.hidden = true;
    }
  });
  const form = h('form', { class: 'panel stack', 'aria-labelledby': 'sighting-title' },
    h('h2', { id: 'sighting-title' }, 'Post a sighting'),
    subjectSlot,
    h('div', { class: 'row' },
      field('Where', select('venue', venueOptions(ctx), placeVenue(ctx))),
      field('Seen at', h('input', { type: 'datetime-local', name: 'seen_at', value: localInput() }))),
    field('Camera or spotter', h('input', { name: 'camera', maxlength: '100', autocomplete: 'off', placeholder: 'e.g. Camera 12, High St' })),
    field('Note', h('textarea', { name: 'note', rows: '3', maxlength: '2000' }), 'For an unknown person: a description to help identify them.'),
    field('Still image (optional)', still),
    preview,
    h('button', { type: 'submit', class: 'primary big' }, 'Post sighting'));
  let subjects = [];
  pickableSubjects(ctx).then((list) => {
    subjects = list;
    subjectSlot.append(subjectSelect('subject_id', 'Who', list, 'Unknown person (ID sought)'));
  }).catch(() => {
    subjectSlot.append(subjectSelect('subject_id', 'Who', [], 'Unknown person (ID sought)'));
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const v = values(form);
    const file = still.files?.[0] ? await shrink(still.files[0]) : null;
    const fields = {
      subject_id: v.subject_id || null,
      venue: v.venue,
      seen_at: fromLocalInput(v.seen_at),
      camera: v.camera || null,
      note: v.note || '',
    };
    const who = v.subject_id ? subjectName(subjects.find((s) => s.subject_id === v.subject_id)) : 'ID sought';
    const request = {
      kind: 'sighting',
      partnership,
      path: p(partnership, '/sightings'),
      label: `Sighting: ${who} at ${ctx.venueName(v.venue)}${file ? ' (with still)' : ''}`,
    };
    if (file) {
      request.fields = Object.fromEntries(Object.entries(fields).filter(([, x]) => x !== null && x !== ''));
      request.files = { still: file };
    } else {
      request.json = Object.fromEntries(Object.entries(fields).filter(([, x]) => x !== null));
    }
    await outbox.add(request);
    form.reset();
    preview.hidden = true;
    form.querySelector('[name=seen_at]').value = localInput();
    toast(navigator.onLine ? 'Sighting posted.' : 'Offline: sighting queued, it goes when the connection is back.');
  });

  const box = outboxPanel();
  const recent = h('ul', { class: 'records', 'aria-label': 'Recent sightings' });
  container.append(
    h('div', { class: 'view-head' }, h('h1', {}, 'Sighting')),
    form,
    box.panel,
    h('section', { class: 'panel', 'aria-labelledby': 'sightings-title' }, h('h2', { id: 'sightings-title' }, 'Recent sightings'), recent));
  async function load() {
    try {
      const list = await api(p(partnership, '/sightings'));
      clear(recent);
      if (!list.length) recent.append(h('li', { class: 'muted' }, 'No sightings yet.'));
      for (const s of list.slice(0, 20)) {
        recent.append(h('li', { class: 'record with-photo', dataset: { sightingId: s.sighting_id } },
          s.still_id ? photo(p(partnership, `/sightings/${s.sighting_id}/still?size=thumb`), 'Still image', 'thumb') : null,
          h('div', {},
            h('p', {}, h('strong', {}, ctx.venueName(s.venue)), ' · ', timeEl(s.seen_at), s.camera ? ` · ${s.camera}` : ''),
            s.note ? h('p', {}, s.note) : null,
            h('p', { class: 'muted small-text' }, `Posted by ${s.recorded_by}`))));
      }
    } catch { /* offline */ }
  }
  const refresh = debounce(load, 300);
  const onFrame = (event) => { if (event.detail.frame.type.startsWith('sighting.')) refresh(); };
  live.on('frame', onFrame);
  load();
  return () => {
    box.stop();
    live.off('frame', onFrame);
  };
}
