// Notifications on this device (Web Push): urgent and emergency alerts and breaches while
// the app is closed. Permission is asked only when the member taps the button, after
// the panel has said what it is for; on an iPhone or iPad the app must first be on the
// Home Screen (Safari offers Web Push only to apps opened from there), and the panel says so.

import { ApiError, api } from './api.js';
import { errorText, h } from './dom.js';

const STORED = 'hub.push'; // {user, id}: this device's subscription, as the hub named it

function supported() {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

function onIos() {
  const ua = navigator.userAgent || '';
  return /iPad|iPhone|iPod/.test(ua) || (ua.includes('Macintosh') && navigator.maxTouchPoints > 1);
}

function standalone() {
  return window.matchMedia?.('(display-mode: standalone)').matches || navigator.standalone === true;
}

/** The VAPID key as the bytes PushManager.subscribe wants. */
function keyBytes(base64url) {
  const text = atob(base64url.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (base64url.length % 4)) % 4));
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

function stored(user) {
  try {
    const found = JSON.parse(localStorage.getItem(STORED) || 'null');
    return found && found.user === user ? found : null;
  } catch {
    return null;
  }
}

/** Subscribe this browser and tell the hub; answers the hub's id for the subscription. */
export async function turnOn(user) {
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') throw new Error('notifications are blocked for this site in the browser settings');
  const { public_key: key } = await api('/v1/push/key');
  const registration = await navigator.serviceWorker.ready;
  let subscription = await registration.pushManager.getSubscription();
  if (subscription) {
    const current = new Uint8Array(subscription.options?.applicationServerKey || []);
    const wanted = keyBytes(key);
    if (current.length && current.join() !== wanted.join()) {
      await subscription.unsubscribe();
      subscription = null;
    }
  }
  subscription = subscription || await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
  const answer = await api('/v1/push/subscriptions', { method: 'POST', json: subscription.toJSON() });
  localStorage.setItem(STORED, JSON.stringify({ user, id: answer.id }));
  return answer.id;
}

/** Stop the pushes to this device (the hub forgets the subscription, the browser too). */
export async function turnOff(user) {
  const mine = stored(user);
  if (mine) {
    try {
      await api(`/v1/push/subscriptions/${encodeURIComponent(mine.id)}`, { method: 'DELETE' });
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) throw error;
    }
  }
  localStorage.removeItem(STORED);
  const registration = await navigator.serviceWorker.ready;
  const subscription = await registration.pushManager.getSubscription();
  if (subscription) await subscription.unsubscribe();
}

/** The panel on the live feed: what notifications do, and the button that turns them on. */
export function pushPanel(ctx) {
  const status = h('p', { class: 'muted', role: 'status', id: 'push-status' });
  const button = h('button', { type: 'button', class: 'secondary', id: 'push-toggle' });
  const panel = h('details', { class: 'panel push-panel', id: 'push-panel' },
    h('summary', {}, 'Notifications on this device'),
    h('p', {}, 'Get urgent and emergency alerts and exclusion breaches on this device even when the hub is closed: '
      + 'the phone shows the priority and the place and vibrates; tap the notification to open the alert. '
      + 'Notifications never show names or the alert\u2019s text.'));

  function render() {
    const on = !!stored(ctx.user) && Notification.permission === 'granted';
    button.textContent = on ? 'Turn off notifications' : 'Turn on notifications';
    button.dataset.on = on ? '1' : '0';
    status.textContent = on ? 'Notifications are on for this device.' : '';
  }

  if (onIos() && !standalone()) {
    panel.append(h('p', { class: 'note', id: 'push-ios' },
      'On an iPhone or iPad: first add the hub to your Home Screen (Share, then \u201cAdd to Home Screen\u201d) '
      + 'and open it from there; then you can turn on notifications.'));
    return panel;
  }
  if (!supported()) {
    panel.append(h('p', { class: 'note' }, 'This browser cannot show notifications from the hub.'));
    return panel;
  }
  button.addEventListener('click', async () => {
    button.disabled = true;
    status.textContent = button.dataset.on === '1' ? 'Turning off\u2026' : 'Turning on\u2026';
    try {
      if (button.dataset.on === '1') await turnOff(ctx.user);
      else await turnOn(ctx.user);
      render();
    } catch (error) {
      status.textContent = `Notifications not turned on: ${errorText(error)}`;
    } finally {
      button.disabled = false;
    }
  });
  panel.append(button, status);
  render();
  return panel;
}
