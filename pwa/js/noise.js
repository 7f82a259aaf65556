// Noise: the night hours, and an optional microphone estimate that is
// labelled indicative and never counts as the measurement (built-in microphones read high
// in exactly the night range).

export function isNight(date = new Date()) {
  const hour = date.getHours();
  return hour >= 22 || hour < 6;
}

export function phoneModel() {
  const ua = navigator.userAgent;
  const android = ua.match(/Android [\d.]+; ([^;)]+)/);
  if (android) return android[1].trim();
  if (/iPhone/.test(ua)) return "iPhone";
  return ua.slice(0, 120);
}

// Raw processing off: echo cancellation, noise suppression and gain control would bend
// the level. dBFS + 120 is a rough full-scale mapping; the per-device offset corrects it.
export class MicEstimate {
  constructor(onLevel) {
    this.onLevel = onLevel;
    this.stream = null;
    this.context = null;
    this.timer = null;
  }

  async start(offsetDb = 0) {
    this.stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
    this.context = new AudioContext();
    await this.context.resume(); // contexts may start suspended until a gesture resumes them
    const source = this.context.createMediaStreamSource(this.stream);
    const analyser = this.context.createAnalyser();
    // The largest window (32768 samples, ~0.7 s at 48 kHz) read every 250 ms overlaps
    // itself, so every sample counts: short impulsive noise is not missed.
    analyser.fftSize = 32768;
    source.connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    let sum = 0;
    let count = 0;
    this.timer = setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      let energy = 0;
      for (const s of samples) energy += s * s;
      sum += energy / samples.length;
      count += 1;
      const rms = Math.sqrt(sum / count); // equivalent level over the run (Leq-like)
      if (rms < 1e-6) return; // nothing heard yet (a muted or starting microphone)
      const level = 20 * Math.log10(rms) + 120 + offsetDb;
      this.onLevel(Math.min(200, Math.max(0, Math.round(level * 10) / 10)));
    }, 250);
  }

  stop() {
    clearInterval(this.timer);
    this.stream?.getTracks().forEach((track) => track.stop());
    this.context?.close();
    this.stream = null;
    this.context = null;
  }
}
