// The hub's web app: sign-in, the sections the member's capabilities open, the connection indicator.
// Plain ES modules, no build step. Views live in js/views-*.js.

import { ApiError, api, forgetImages, keepFresh, login, onSignedOut, session } from './js/api.js';
import { alarm } from './js/alarm.js';
import { announce, clear, errorText, field, h } from './js/dom.js';
import { live } from './js/live.js';
import { outbox } from './js/outbox.js';
import * as admin from './js/views-admin.js';
import * as audit from './js/views-audit.js';
import * as coordinator from './js/views-coordinator.js';
import * as receiver from './js/views-receiver.js';

// Each section and the capability (a key of the server's role matrix, as `/v1/me` lists
// them in `can`) without which it is not shown.
const SECTIONS = {
  live: { title: 'Live', needs: 'receive', view: receiver.liveView },
  gallery: { title: 'Gallery', needs: 'gallery', view: receiver.galleryView },
  report: { title: 'Report', needs: 'report', view: receiver.reportView },
  sighting: { title: 'Sighting', needs: 'follow', view: receiver.sightingView },
  subjects: { title: 'Subjects', needs: 'manage_subjects', view: coordinator.subjectsView },
  exclusions: { title: 'Exclusions', needs: 'exclude', view: coordinator.exclusionsView },
  members: { title: 'Members & venues', needs: 'manage_members', view: coordinator.membersView },
  timeline: { title: 'Timeline', needs: 'audit', view: audit.timelineView },
  verify: { title: 'Verify', needs: 'audit', view: audit.verifyView },
  asof: { title: 'As of', needs: 'audit', view: audit.asOfView },
  partnerships: { title: 'Partnerships', needs: 'manage_partnerships', view: admin.partnershipsView },
};

// The order of the sections, by where a member's work starts: on the radio net the live
// feed comes first (and the coordinator's desk after it); an auditor starts at the log;
// an admin at the partnerships. The first layout whose capability the member has is used,
// and of it only the sections whose capability they have.
const LAYOUTS = [
  ['receive', ['live', 'gallery', 'report', 'sighting', 'subjects', 'exclusions', 'members', 'timeline']],
  ['audit', ['timeline', 'verify', 'asof', 'gallery']],
  ['manage_partnerships', ['partnerships', 'members']],
];

/** The sections for a member with the capabilities `can` (from `/v1/me`), in nav order. */
export function sectionsFor(can = []) {
  const layout = LAYOUTS.find(([first]) => can.includes(first));
  return layout ? layout[1].filter((key) => can.includes(SECTIONS[key].needs)) : [];
}

const main = document.getElementById('main');
const nav = document.getElementById('nav');
let cleanup = null;
let currentSection = null;

const ctx = {
  get me() { return session.me; },
  get role() { return session.me?.role; },
  get user() { return session.me?.user; },
  /** Whether the member's role may do `name` (a capability `/v1/me` lists in `can`). */
  can(name) { return (session.me?.can || []).includes(name); },
  /** The roles the member may enrol and revoke (`/v1/me`'s `enrols`). */
  get enrols() { return session.me?.enrols || []; },
  partnership: null, // the partnership summary in view: {id, name, venues, channels}
  venueName(id) {
    if (!id) return '';
    const venue = (this.partnership?.venues || []).find((v) => v.id === id);
    return venue ? venue.name : id;
  },
  partnershipById(id) {
    return (session.me?.partnerships || []).find((x) => x.id === id);
  },
  async refreshMe() {
    session.me = await api('/v1/me');
    session.save();
    choosePartnership();
    buildNav();
  },
  go(section) { location.hash = `#/${section}`; },
};

function choosePartnership() {
  const list = session.me?.partnerships || [];
  const wanted = localStorage.getItem('hub.partnership');
  ctx.partnership = list.find((x) => x.id === wanted) || list[0] || null;
  document.getElementById('partnership-name').textContent = ctx.partnership ? ctx.partnership.name : '';
}

// ---- connection indicator ----------------------------------------------------------

const conn = document.getElementById('conn');

function showConnection() {
  const queued = outbox.pending;
  const online = navigator.onLine;
  let state;
  let text;
  if (!session.token) {
    state = online ? 'idle' : 'offline';
    text = online ? '' : 'Offline';
  } else if (!online || live.state === 'offline') {
    state = 'offline';
    text = `Offline – ${queued} queued`;
  } else if (!ctx.can('receive')) {
    state = 'live';
    text = queued ? `Online – sending ${queued}` : 'Online';
  } else if (live.state === 'live') {
    state = 'live';
    text = queued ? `Live – sending ${queued}` : 'Live';
  } else if (live.state === 'refused') {
    state = 'offline';
    text = 'Signed out';
  } else if (live.state === 'connecting') {
    state = 'connecting';
    text = 'Connecting…';
  } else {
    state = 'connecting';
    text = queued ? `Reconnecting… – ${queued} queued` : 'Reconnecting…';
  }
  conn.dataset.state = state;
  conn.dataset.queued = String(queued);
  if (conn.textContent !== text) conn.textContent = text;
}

live.on('state', showConnection);
outbox.on('change', showConnection);
window.addEventListener('online', showConnection);
window.addEventListener('offline', showConnection);

// ---- sign-in -------------------------------------------------------------------------

function showLogin(message) {
  currentSection = null;
  if (cleanup) cleanup();
  cleanup = null;
  nav.hidden = true;
  document.getElementById('who').hidden = true;
  document.getElementById('partnership-name').textContent = '';
  clear(main);
  const username = h('input', { name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const error = h('p', { class: 'error', role: 'alert', id: 'login-error' }, message || '');
  const button = h('button', { type: 'submit', class: 'primary big' }, 'Sign in');
  const form = h('form', { class: 'panel login', 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title' }, 'Sign in'),
    h('p', { class: 'muted' }, 'Live alerts, exclusion breaches, the gallery and reports for your partnership.'),
    field('Username', username),
    field('Password', password),
    error,
    button);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    button.disabled = true;
    error.textContent = '';
    try {
      await login(username.value.trim(), password.value);
      await startSession();
    } catch (e) {
      error.textContent = e instanceof ApiError && e.status === 401 ? 'Wrong username or password.' : errorText(e);
      button.disabled = false;
      password.select();
    }
  });
  main.append(form);
  username.focus();
  showConnection();
}

async function startSession() {
  choosePartnership();
  document.getElementById('who').hidden = false;
  const role = session.me.role.replace('_', ' ');
  document.getElementById('who-name').textContent = `${session.me.user} · ${role}`;
  buildNav();
  await outbox.load();
  outbox.resume();
  if (ctx.can('receive')) {
    live.start().catch(() => {});
  }
  showConnection();
  const first = sectionsFor(session.me.can)[0];
  if (first && (!location.hash || location.hash === '#/' || !sectionFromHash())) {
    location.replace(`#/${first}`);
  }
  route();
}

function buildNav() {
  clear(nav);
  const list = h('ul', {});
  for (const key of sectionsFor(session.me.can)) {
    const link = h('a', { href: `#/${key}`, dataset: { section: key } }, SECTIONS[key].title);
    if (key === currentSection) link.setAttribute('aria-current', 'page');
    list.append(h('li', {}, link));
  }
  nav.append(list);
  const partnerships = session.me.partnerships || [];
  if (partnerships.length > 1) {
    const chooser = h('select', { name: 'partnership', id: 'partnership-choice' },
      partnerships.map((x) => h('option', { value: x.id, selected: x.id === ctx.partnership?.id }, x.name)));
    chooser.addEventListener('change', () => {
      localStorage.setItem('hub.partnership', chooser.value);
      choosePartnership();
      route(true);
    });
    nav.append(h('div', { class: 'chooser' }, h('label', { for: 'partnership-choice' }, 'Partnership'), chooser));
  }
  nav.hidden = false;
}

function sectionFromHash() {
  const key = (location.hash || '').replace(/^#\/?/, '').split('?')[0];
  return session.me && sectionsFor(session.me.can).includes(key) ? key : null;
}

function route(force = false, moved = false) {
  if (!session.token || !session.me) return;
  const key = sectionFromHash() || sectionsFor(session.me.can)[0];
  if (!key) {
    currentSection = null;
    if (cleanup) cleanup();
    cleanup = null;
    clear(main);
    main.append(h('p', { class: 'panel' }, 'Your role has nothing to show in the web app.'));
    return;
  }
  if (key === currentSection && !force) return;
  currentSection = key;
  if (cleanup) cleanup();
  cleanup = null;
  for (const a of nav.querySelectorAll('a')) {
    if (a.dataset.section === key) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  clear(main);
  document.title = `${SECTIONS[key].title} – The hub`;
  const container = h('div', { class: 'view', dataset: { view: key } });
  main.append(container);
  try {
    cleanup = SECTIONS[key].view(container, ctx) || null;
  } catch (e) {
    container.append(h('p', { class: 'error', role: 'alert' }, errorText(e)));
  }
  // After a change of section, keyboard and screen-reader users start at its heading.
  const heading = container.querySelector('h1');
  if (heading && moved) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
  }
}

function signOut(message) {
  live.stop();
  outbox.pause();
  forgetImages();
  session.clear();
  showLogin(message);
}

onSignedOut((reason) => {
  if (!session.token) return;
  signOut(reason === 'token expired' ? 'Your session has ended: sign in again.' : `Signed out: ${reason}.`);
});

document.getElementById('sign-out').addEventListener('click', () => signOut(''));
window.addEventListener('hashchange', () => route(false, true));

// The token is refreshed ten minutes before it ends (keepFresh); should that fail for
// long (offline), tell the user before it ends, so no shift is cut short.
setInterval(() => {
  if (!session.token) return;
  const left = session.expiresAt - Date.now();
  if (left <= 0) signOut('Your session has ended: sign in again.');
  else if (left < 5 * 60 * 1000 && !ctx.warnedExpiry) {
    ctx.warnedExpiry = true;
    announce('Your session ends in less than 5 minutes. Sign in again to stay connected.', true);
  }
}, 30000);

async function boot() {
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(() => {});
  }
  if (session.load()) {
    keepFresh();
    try {
      // A session saved by an older version of the app does not say what the role may do.
      if (!Array.isArray(session.me?.can)) {
        session.me = await api('/v1/me');
        session.save();
      }
      await startSession();
      // Names, venues and channels may have changed since the last visit.
      if (navigator.onLine) ctx.refreshMe().catch(() => {});
    } catch (e) {
      showLogin(errorText(e));
    }
  } else {
    showLogin();
  }
}

window.hub = { live, outbox, session, alarm };
boot();
