// The live socket and the feed it keeps: hello with the last positions seen, welcome,
// every frame since, then live frames. Frames are applied once: a frame at or before the
// last position seen for its partnership is dropped. Positions and the feed are kept in
// localStorage together, so a reload or a lost connection resumes where it stopped.

import { api, onFreshToken, p, session, signedOut } from './api.js';
import { uuid } from './dom.js';

const BACKOFF_MS = [250, 500, 1000, 2000, 4000, 8000];
const PING_MS = 25000;
const PONG_MS = 10000;
const KEEP = 300; // alerts kept on the device per user

const events = new EventTarget();

export const live = {
  state: 'idle', // idle, connecting, live, reconnecting, offline, refused
  positions: {}, // {partnership: last position applied}
  alerts: new Map(), // "p/alert_id" → alert
  socket: null,
  attempts: 0,
  timer: null,
  pingTimer: null,
  pongTimer: null,
  saveTimer: null,
  started: false,

  on(type, fn) { events.addEventListener(type, fn); },
  off(type, fn) { events.removeEventListener(type, fn); },

  storageKey() { return `hub.live.${session.user}`; },

  /** Load what this device last saw, seed anything new from REST, then connect. */
  async start() {
    this.stop();
    this.started = true;
    this.restore();
    await this.seed();
    this.connect(false);
  },

  stop() {
    this.started = false;
    clearTimeout(this.timer);
    this.stopPing();
    if (this.socket) {
      const socket = this.socket;
      this.socket = null;
      socket.onclose = null;
      socket.close(1000, 'signed out');
    }
    this.setState('idle');
  },

  restore() {
    this.positions = {};
    this.alerts = new Map();
    try {
      const saved = JSON.parse(localStorage.getItem(this.storageKey()) || 'null');
      if (saved) {
        this.positions = saved.positions || {};
        for (const alert of saved.alerts || []) this.alerts.set(keyOf(alert.partnership, alert.alert_id), alert);
      }
    } catch { /* start afresh */ }
    const mine = new Set((session.me?.partnerships || []).map((x) => x.id));
    for (const partnership of Object.keys(this.positions)) {
      if (!mine.has(partnership)) this.forget(partnership);
    }
    events.dispatchEvent(new CustomEvent('reset'));
  },

  forget(partnership) {
    delete this.positions[partnership];
    for (const [key, alert] of this.alerts) if (alert.partnership === partnership) this.alerts.delete(key);
  },

  /** A partnership this device has never followed starts from its radio log. */
  async seed() {
    for (const partnership of session.me?.partnerships || []) {
      if (this.positions[partnership.id] !== undefined) continue;
      try {
        const me = await api('/v1/me');
        const head = (me.partnerships.find((x) => x.id === partnership.id) || partnership).position;
        const recent = await api(p(partnership.id, '/alerts?limit=100'));
        for (const alert of recent.reverse()) {
          this.alerts.set(keyOf(partnership.id, alert.alert_id), { ...alert, partnership: partnership.id });
        }
        // Frames after `head` follow on the socket; those already folded into `recent`
        // apply again harmlessly (every change below is idempotent).
        this.positions[partnership.id] = head;
      } catch {
        // Offline at first start: follow from the beginning once the socket is back.
        this.positions[partnership.id] = this.positions[partnership.id] ?? 0;
      }
    }
    this.save(true);
    events.dispatchEvent(new CustomEvent('reset'));
  },

  connect(isRetry) {
    if (!this.started || !session.token) return;
    clearTimeout(this.timer);
    if (!navigator.onLine) {
      this.setState('offline');
      return;
    }
    this.setState(isRetry ? 'reconnecting' : 'connecting');
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const socket = new WebSocket(`${scheme}://${location.host}/v1/live`);
    this.socket = socket;
    socket.onopen = () => {
      socket.send(JSON.stringify({ op: 'hello', token: session.token, since: { ...this.positions } }));
    };
    socket.onmessage = (message) => {
      if (socket !== this.socket) return;
      this.gotMessage();
      let data;
      try { data = JSON.parse(message.data); } catch { return; }
      this.receive(data);
    };
    socket.onclose = (event) => {
      if (socket !== this.socket) return;
      this.socket = null;
      this.stopPing();
      if (!this.started) return;
      if (this.state === 'refused') return;
      if (event.code === 1008) {
        // The hub refused the hello: a token problem is a sign-out; anything else, retry.
        const reason = event.reason || '';
        if (/token|revoked|signed/.test(reason)) {
          this.setState('refused');
          signedOut(reason);
          return;
        }
      }
      this.retry();
    };
  },

  retry() {
    if (!navigator.onLine) {
      this.setState('offline');
      return;
    }
    this.setState('reconnecting');
    const wait = BACKOFF_MS[Math.min(this.attempts, BACKOFF_MS.length - 1)];
    this.attempts += 1;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(true), wait * (0.8 + Math.random() * 0.4));
  },

  /** Drop the socket now (the device went offline) and wait for 'online'. */
  drop() {
    clearTimeout(this.timer);
    this.stopPing();
    if (this.socket) {
      const socket = this.socket;
      this.socket = null;
      socket.onclose = null;
      try { socket.close(4000, 'device offline'); } catch { /* already gone */ }
    }
    if (this.started) this.setState('offline');
  },

  receive(data) {
    if (data.op === 'welcome') {
      this.attempts = 0;
      // A log behind what this device saw was replaced (a restored server): start that
      // partnership again from its radio log, on a new socket.
      const stale = Object.entries(data.positions || {})
        .filter(([partnership, head]) => (this.positions[partnership] || 0) > head)
        .map(([partnership]) => partnership);
      if (stale.length) {
        for (const partnership of stale) this.forget(partnership);
        const socket = this.socket;
        this.socket = null;
        socket.onclose = null;
        socket.close(4002, 'resync');
        this.seed().then(() => this.connect(true));
        return;
      }
      this.setState('live');
      this.startPing();
      events.dispatchEvent(new CustomEvent('welcome', { detail: data }));
    } else if (data.op === 'event') {
      this.apply(data);
    } else if (data.op === 'acked') {
      events.dispatchEvent(new CustomEvent('acked', { detail: data }));
    } else if (data.op === 'error') {
      if (/token|revoked/.test(data.detail || '')) {
        this.setState('refused');
        signedOut(data.detail);
      }
    }
  },

  /** One frame, once: dropped if its position was already applied for its partnership. */
  apply(frame) {
    const partnership = frame.partnership;
    if (frame.position <= (this.positions[partnership] || 0)) {
      events.dispatchEvent(new CustomEvent('duplicate', { detail: frame }));
      return;
    }
    this.positions[partnership] = frame.position;
    const d = frame.data || {};
    const key = keyOf(partnership, d.alert_id);
    let alert = null;
    let fresh = false;
    if (frame.type === 'alert.broadcast') {
      if (!this.alerts.has(key)) {
        alert = {
          ...d,
          partnership,
          status: 'active',
          position: frame.position,
          posted_at: frame.occurred_at,
          posted_by: frame.actor,
          acknowledgements: [],
          closed_note: null,
        };
        this.alerts.set(key, alert);
        fresh = true;
      }
    } else if (frame.type === 'alert.acknowledged') {
      alert = this.alerts.get(key);
      if (alert && !alert.acknowledgements.some((a) => a.user === d.user)) {
        alert.acknowledgements.push({ user: d.user, at: frame.occurred_at });
      }
    } else if (frame.type === 'alert.resolved' || frame.type === 'alert.cancelled') {
      alert = this.alerts.get(key);
      if (alert) {
        alert.status = frame.type === 'alert.resolved' ? 'resolved' : 'cancelled';
        alert.closed_note = d.note ?? null;
      }
    }
    this.save();
    events.dispatchEvent(new CustomEvent('frame', { detail: { frame, alert, fresh } }));
  },

  /** Acknowledge on the socket when it is up; answers false when the caller should queue it. */
  ackOnSocket(alert) {
    if (this.state !== 'live' || !this.socket || this.socket.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify({
      op: 'ack', alert_id: alert.alert_id, partnership: alert.partnership, command_id: `ack-${alert.alert_id}-${uuid()}`,
    }));
    return true;
  },

  sorted() {
    return [...this.alerts.values()].sort((a, b) => (b.posted_at || '').localeCompare(a.posted_at || '') || b.position - a.position);
  },

  save(now = false) {
    clearTimeout(this.saveTimer);
    const write = () => {
      if (!session.user) return;
      const alerts = this.sorted().slice(0, KEEP);
      const keep = new Set(alerts.map((a) => keyOf(a.partnership, a.alert_id)));
      for (const key of [...this.alerts.keys()]) if (!keep.has(key)) this.alerts.delete(key);
      try {
        localStorage.setItem(this.storageKey(), JSON.stringify({ positions: this.positions, alerts }));
      } catch { /* storage full: the socket resumes from the server anyway */ }
    };
    if (now) write();
    else this.saveTimer = setTimeout(write, 150);
  },

  // The hub answers any message; one every 25 s finds a dead link (a handheld that
  // walked out of coverage) where the browser alone would wait minutes to notice.
  startPing() {
    this.stopPing();
    this.pingTimer = setInterval(() => {
      if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return;
      this.socket.send(JSON.stringify({ op: 'ping' }));
      clearTimeout(this.pongTimer);
      this.pongTimer = setTimeout(() => {
        if (this.socket) this.socket.close(4001, 'no answer');
      }, PONG_MS);
    }, PING_MS);
  },

  gotMessage() { clearTimeout(this.pongTimer); },

  stopPing() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
  },

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    events.dispatchEvent(new CustomEvent('state', { detail: state }));
  },
};

function keyOf(partnership, alertId) { return `${partnership}/${alertId}`; }

window.addEventListener('offline', () => live.drop());
window.addEventListener('online', () => {
  if (live.started && !live.socket) {
    live.attempts = 0;
    live.connect(true);
  }
});
// Save before the page goes away, and reconnect at once when it comes back into view.
window.addEventListener('pagehide', () => live.started && live.save(true));
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && live.started && !live.socket && navigator.onLine) {
    live.attempts = 0;
    live.connect(true);
  }
});

// A fresh token goes to the hub on the open socket, which would otherwise close when the
// old one expires (a shift outlasts an hour).
onFreshToken((token) => {
  if (live.socket && live.socket.readyState === WebSocket.OPEN) {
    live.socket.send(JSON.stringify({ op: 'token', token }));
  }
});
