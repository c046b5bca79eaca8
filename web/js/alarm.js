// Sound and vibration for urgent and emergency alerts. Browsers allow sound only after
// the user has touched the page, so the audio context is unlocked on the first gesture.

let context = null;
let last = 0;
export const alarm = { muted: localStorage.getItem('hub.muted') === '1', played: 0 };

function unlock() {
  if (context) {
    if (context.state === 'suspended') context.resume().catch(() => {});
    return;
  }
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return;
  try { context = new Ctx(); } catch { context = null; }
}

for (const type of ['pointerdown', 'keydown', 'touchstart']) {
  window.addEventListener(type, unlock, { capture: true, passive: true });
}

function beep(frequency, start, length) {
  const osc = context.createOscillator();
  const gain = context.createGain();
  osc.type = 'square';
  osc.frequency.value = frequency;
  gain.gain.setValueAtTime(0.0001, start);
  gain.gain.exponentialRampToValueAtTime(0.25, start + 0.01);
  gain.gain.exponentialRampToValueAtTime(0.0001, start + length);
  osc.connect(gain).connect(context.destination);
  osc.start(start);
  osc.stop(start + length + 0.02);
}

/** Sound and buzz for a new alert of this priority (at most once a second). */
export function sound(priority) {
  if (priority !== 'urgent' && priority !== 'emergency') return;
  const now = Date.now();
  if (now - last < 1000) return;
  last = now;
  alarm.played += 1;
  if (navigator.vibrate) {
    try {
      navigator.vibrate(priority === 'emergency' ? [400, 150, 400, 150, 400] : [250, 120, 250]);
    } catch { /* not allowed before a gesture */ }
  }
  if (alarm.muted || !context) return;
  try {
    const t = context.currentTime + 0.02;
    if (priority === 'emergency') {
      for (let i = 0; i < 3; i += 1) {
        beep(1046, t + i * 0.3, 0.12);
        beep(784, t + i * 0.3 + 0.14, 0.12);
      }
    } else {
      beep(880, t, 0.15);
      beep(880, t + 0.22, 0.15);
    }
  } catch { /* no audio here */ }
}

export function setMuted(muted) {
  alarm.muted = muted;
  localStorage.setItem('hub.muted', muted ? '1' : '0');
}
