// LiveTalk web client: one WebSocket per conversation; binary chunks (JPEG frames + PCM audio) are played
// on one clock: the WebAudio clock when audio runs, else performance.now(). Protocol: docs/system.md.
"use strict";

const $ = (id) => document.getElementById(id);
const JITTER_S = 0.12; // playback buffer added when (re)starting playback

const st = {
  ws: null, audio: null, useAudioClock: false, nextTime: 0, frames: [], sources: [],
  selected: { face: "ada" }, turnSeq: 0, pending: new Map(), interrupted: new Set(), speakingTurn: null,
  bubbles: new Map(), drawTimes: [], recorder: null,
  // counters (exposed on window.livetalk for tests)
  chunks: 0, framesReceived: 0, framesDrawn: 0, framesSkipped: 0, lateChunks: 0, audioSamples: 0,
  audioScheduled: 0, turnsEnded: 0, framesCaughtUp: 0, chunkRecs: [], lastLatencyMs: null, lastGenMs: null, fps: 0, ready: false, errors: [],
};
window.livetalk = st;

// ---------- clock ----------
function now() { return st.useAudioClock ? st.audio.currentTime : performance.now() / 1000; }

// ---------- UI helpers ----------
function setConn(text, cls) {
  $("conn-text").textContent = text;
  $("conn").className = "pill" + (cls ? " " + cls : "");
}
function logBubble(cls, text) {
  const empty = $("log-empty"); if (empty) empty.remove();
  const div = document.createElement("div");
  div.className = "bubble " + cls; div.textContent = text;
  $("log").appendChild(div); $("log").scrollTop = $("log").scrollHeight;
  return div;
}
function setSessionUI(live) {
  for (const id of ["text", "send", "stop", "end"]) $(id).disabled = !live;
  $("mic").disabled = !live || !(navigator.mediaDevices && window.MediaRecorder);
  $("start").textContent = live ? "Restart" : "Start conversation";
  $("overlay").hidden = !live;
}

// ---------- faces & upload ----------
function selectFace(btn, sel) {
  document.querySelectorAll(".face").forEach((b) => b.classList.remove("selected"));
  btn.classList.add("selected"); st.selected = sel;
  const msg = $("upload-msg"); msg.className = "msg";
  msg.textContent = st.ws ? "Press Restart to talk with this face." : "Ready: press Start conversation.";
}
function addFace(src, title, sel, select) {
  const btn = document.createElement("button");
  btn.className = "face"; btn.title = title; btn.type = "button";
  const img = document.createElement("img"); img.src = src; img.alt = title; btn.appendChild(img);
  btn.onclick = () => selectFace(btn, sel);
  $("faces").insertBefore(btn, $("faces").querySelector("label.upload"));
  if (select) selectFace(btn, sel);
}
async function loadFaces() {
  try {
    const r = await (await fetch("/api/faces")).json();
    r.faces.forEach((f, i) => addFace(f.url, f.name, { face: f.id }, i === 0));
  } catch (e) { $("upload-msg").textContent = "Could not load the built-in faces."; }
}
$("upload").addEventListener("change", async (ev) => {
  const file = ev.target.files[0]; ev.target.value = "";
  if (!file) return;
  const msg = $("upload-msg"); msg.className = "msg"; msg.textContent = "Checking " + file.name + "…";
  try {
    const res = await fetch("/api/image", { method: "POST", body: file,
      headers: { "Content-Type": file.type || "application/octet-stream" } });
    const body = await res.json();
    if (!res.ok) { msg.className = "msg bad"; msg.textContent = body.message || "Upload refused."; return; }
    addFace(URL.createObjectURL(file), file.name, { image_id: body.image_id }, true);
    msg.textContent = `Uploaded ${file.name} (${body.width}×${body.height}). Press ${st.ws ? "Restart" : "Start"} to use it.`;
  } catch (e) { msg.className = "msg bad"; msg.textContent = "Upload failed: " + e; }
});

// ---------- connection ----------
async function start() {
  const hadSession = !!st.ws;
  await stopSession();
  if (hadSession) await new Promise((r) => setTimeout(r, 300)); // let the server free the old slot
  if (!st.audio) {
    try { st.audio = new (window.AudioContext || window.webkitAudioContext)(); } catch (e) { st.audio = null; }
  }
  if (st.audio && st.audio.state !== "running") { try { await st.audio.resume(); } catch (e) { /* no audio */ } }
  st.useAudioClock = !!st.audio && st.audio.state === "running";
  st.nextTime = 0; st.frames = []; st.chunkRecs = []; st.interrupted.clear(); st.pending.clear();
  const proto = location.protocol === "https:" ? "wss://" : "ws://";
  const ws = new WebSocket(proto + location.host + "/ws");
  ws.binaryType = "arraybuffer"; st.ws = ws;
  setConn("connecting…");
  ws.onopen = () => ws.send(JSON.stringify({ type: "start", flow_control: true, ...st.selected }));
  ws.onmessage = (ev) => {
    if (typeof ev.data === "string") onEvent(JSON.parse(ev.data)); else onChunk(ev.data);
  };
  ws.onclose = (ev) => {
    if (st.ws !== ws) return;
    st.ws = null; st.ready = false; setSessionUI(false);
    if (!$("conn").classList.contains("err")) setConn(ev.code === 1000 ? "ended" : `closed (${ev.code})`);
  };
  ws.onerror = () => setConn("connection error", "err");
}
function stopSession() {
  let closed = Promise.resolve();
  if (st.ws) {
    const ws = st.ws; st.ws = null;
    closed = new Promise((resolve) => {
      ws.addEventListener("close", resolve); setTimeout(resolve, 1500);
    });
    try { ws.close(); } catch (e) { /* closed */ }
  }
  stopAudio(() => true);
  st.frames.forEach((f) => f.bmp.close && f.bmp.close()); st.frames = [];
  st.ready = false; setSessionUI(false);
  return closed;
}
function send(obj) { if (st.ws && st.ws.readyState === 1) st.ws.send(JSON.stringify(obj)); }

function onEvent(ev) {
  switch (ev.type) {
    case "ready":
      st.ready = true; st.restarting = false; setSessionUI(true);
      $("placeholder").hidden = true;
      setConn(`live · ${ev.performer} · ${ev.thinker} · ${ev.active}/${ev.max_sessions} sessions`, "live");
      logBubble("sys", "Connected. The avatar is listening.");
      $("upload-msg").className = "msg";
      $("upload-msg").textContent = "To switch face: pick another one, then press Restart.";
      $("text").focus();
      break;
    case "ack": break;
    case "transcript": {
      const b = st.bubbles.get("u" + ev.turn); if (b && ev.text) b.textContent = ev.text;
      break;
    }
    case "prompt": $("motion").innerHTML = "Motion prompt: <b></b>"; $("motion").querySelector("b").textContent = ev.prompt; break;
    case "reply": {
      let b = st.bubbles.get("b" + ev.turn);
      if (!b) { b = logBubble("bot", ""); st.bubbles.set("b" + ev.turn, b); }
      b.textContent = (b.textContent ? b.textContent + " " : "") + ev.text;
      $("log").scrollTop = $("log").scrollHeight;
      break;
    }
    case "interrupted": {
      st.interrupted.add(ev.turn); st.pending.delete(ev.turn);
      const b = st.bubbles.get("b" + ev.turn);
      if (b) { const n = document.createElement("span"); n.className = "note"; n.textContent = " (interrupted)"; b.appendChild(n); }
      dropTurn(ev.turn);
      break;
    }
    case "turn_end": st.turnsEnded++; break;
    case "error":
      st.errors.push(ev.code);
      logBubble("err", ev.message || ev.code);
      if (ev.fatal) setConn(ev.code === "server_full" ? "server full" : "error", "err");
      if (ev.code === "server_full" && st.restarting) { st.restarting = false; setTimeout(() => start(), 1000); }
      break;
    case "pong": break;
  }
}

// ---------- media ----------
function parseChunk(buf) {
  const dv = new DataView(buf);
  const magic = String.fromCharCode(dv.getUint8(0), dv.getUint8(1), dv.getUint8(2), dv.getUint8(3));
  if (magic !== "LTC1") throw new Error("bad chunk");
  const hl = dv.getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 8, hl)));
  let pos = 8 + hl;
  const pcm = new Int16Array(buf.slice(pos, pos + header.audio_samples * 2)); pos += header.audio_samples * 2;
  const audio = new Float32Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) audio[i] = pcm[i] / 32767;
  const frames = header.frame_sizes.map((n) => { const b = new Blob([new Uint8Array(buf, pos, n)], { type: "image/jpeg" }); pos += n; return b; });
  return { header, audio, frames };
}

function onChunk(buf) {
  let c;
  try { c = parseChunk(buf); } catch (e) { st.errors.push("bad_chunk"); return; }
  const h = c.header;
  st.chunks++; st.framesReceived += c.frames.length; st.audioSamples += c.audio.length;
  st.lastGenMs = h.gen_ms; if (h.late) st.lateChunks++;
  send({ type: "ack", frame: h.start_frame + h.n_frames }); // flow control: the server skips ahead if we lag
  if (h.turn != null && st.interrupted.has(h.turn)) { st.framesSkipped += c.frames.length; return; } // barge-in
  const dur = h.n_frames / h.fps;
  const t = now();
  if (h.turn != null && st.pending.has(h.turn)) catchUp(t); // the answer starts: skip idle frames still queued
  if (st.nextTime < t + 0.03) st.nextTime = t + JITTER_S; // (re)start or underrun: rebuffer a little
  const start = st.nextTime; st.nextTime += dur;
  if (st.useAudioClock && c.audio.length) {
    const ab = st.audio.createBuffer(1, c.audio.length, h.sample_rate);
    ab.copyToChannel(c.audio, 0);
    const src = st.audio.createBufferSource(); src.buffer = ab; src.connect(st.audio.destination);
    src.start(start); st.audioScheduled += c.audio.length;
    const rec = { src, start, end: start + dur, turn: h.turn };
    st.sources.push(rec); src.onended = () => { st.sources = st.sources.filter((s) => s !== rec); };
  }
  const rec = { turn: h.turn, start, end: start + dur, cutAfter: Infinity }; // lets catch-up/barge-in cut
  st.chunkRecs.push(rec);                                                     // frames still being decoded
  st.chunkRecs = st.chunkRecs.filter((r) => r.end > t - 1);
  c.frames.forEach((blob, i) => {
    createImageBitmap(blob).then((bmp) => {
      insertFrame({ t: start + i / h.fps, bmp, turn: h.turn, speech: h.speech, rec });
    }).catch(() => { st.framesSkipped++; });
  });
}

function insertFrame(f) {
  if (f.t > f.rec.cutAfter) { f.bmp.close && f.bmp.close(); return; }
  const q = st.frames; let i = q.length;
  while (i > 0 && q[i - 1].t > f.t) i--;
  q.splice(i, 0, f);
}

function stopAudio(pred) {
  st.sources.filter(pred).forEach((s) => { try { s.src.stop(); } catch (e) { /* not started */ } });
  st.sources = st.sources.filter((s) => !pred(s));
}

// Latency cut: frames queued before the first answer chunk are idle (listening) video with silent audio;
// dropping the ones not yet shown lets the answer start ~one buffer earlier at the cost of a small jump.
function catchUp(t) {
  const keepUntil = t + 0.05;
  let keepEnd = keepUntil; // speech of an earlier (finished) answer still queued is kept
  st.chunkRecs.forEach((r) => {
    if (r.end <= keepUntil) return;
    if (r.turn == null) r.cutAfter = Math.min(r.cutAfter, keepUntil);
    else keepEnd = Math.max(keepEnd, r.end);
  });
  const late = st.frames.filter((f) => f.t > keepUntil && f.turn == null);
  st.frames = st.frames.filter((f) => !(f.t > keepUntil && f.turn == null));
  late.forEach((f) => f.bmp.close && f.bmp.close());
  stopAudio((s) => s.turn == null && s.start > keepUntil);
  st.framesCaughtUp += late.length;
  st.nextTime = Math.max(t + 0.05, Math.min(st.nextTime, keepEnd));
}

function dropTurn(turn) {
  stopAudio((s) => s.turn === turn);
  const t = now();
  let from = Infinity;
  st.chunkRecs.forEach((r) => { if (r.turn === turn) { r.cutAfter = -Infinity; from = Math.min(from, r.start); } });
  if (from < Infinity) st.nextTime = Math.max(t + 0.03, Math.min(st.nextTime, from));
  const removed = st.frames.filter((f) => f.turn === turn);
  if (!removed.length) return;
  st.frames = st.frames.filter((f) => f.turn !== turn);
  removed.forEach((f) => f.bmp.close && f.bmp.close());
  st.framesSkipped += removed.length;
  st.nextTime = Math.max(now() + 0.03, Math.min(st.nextTime, removed[0].t)); // play what follows right away
}

// ---------- render loop ----------
const canvas = $("video"), g = canvas.getContext("2d");
function render() {
  const t = now();
  let pick = null;
  while (st.frames.length && st.frames[0].t <= t) {
    if (pick) { pick.bmp.close && pick.bmp.close(); st.framesSkipped++; }
    pick = st.frames.shift();
  }
  if (pick) {
    g.drawImage(pick.bmp, 0, 0, canvas.width, canvas.height);
    pick.bmp.close && pick.bmp.close();
    st.framesDrawn++;
    const ms = performance.now(); st.drawTimes.push(ms);
    if (pick.turn != null && st.pending.has(pick.turn)) {
      st.lastLatencyMs = Math.round(ms - st.pending.get(pick.turn)); st.pending.delete(pick.turn);
    }
    st.speakingTurn = pick.speech ? pick.turn : null;
  }
  requestAnimationFrame(render);
}
requestAnimationFrame(render);

setInterval(() => {
  const ms = performance.now();
  st.drawTimes = st.drawTimes.filter((x) => ms - x < 1000);
  st.fps = st.drawTimes.length;
  const lat = st.lastLatencyMs == null ? "--" : st.lastLatencyMs + " ms";
  $("ov-fps").textContent = st.fps + " fps"; $("m-fps").textContent = st.fps;
  $("ov-latency").textContent = "latency " + lat; $("m-latency").textContent = lat;
  const buf = st.ws ? Math.max(0, st.nextTime - now()) : 0;
  $("m-buffer").textContent = st.ws ? Math.round(buf * 1000) + " ms" : "--";
  $("m-frames").textContent = st.framesReceived;
  $("m-dropped").textContent = st.framesSkipped + " / " + st.lateChunks;
  $("m-gen").textContent = st.lastGenMs == null ? "--" : st.lastGenMs.toFixed(1) + " ms";
  const speaking = st.speakingTurn != null;
  $("ov-state").textContent = speaking ? "speaking" : "listening";
  $("ov-state").className = "tag" + (speaking ? " speaking" : "");
}, 250);

// ---------- input ----------
function sendText(text) {
  const id = ++st.turnSeq;
  st.pending.clear(); st.pending.set(id, performance.now());
  const b = logBubble("user", text); st.bubbles.set("u" + id, b);
  send({ type: "say", text, id });
}
$("composer").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = $("text").value.trim();
  if (!text || !st.ready) return;
  $("text").value = "";
  sendText(text);
});
$("start").onclick = () => { st.restarting = !!st.ws; start(); };
$("stop").onclick = () => send({ type: "interrupt" });
$("end").onclick = () => { send({ type: "stop" }); stopSession(); setConn("ended"); $("placeholder").hidden = false; };

$("mic").onclick = async () => {
  if (st.recorder) { st.recorder.stop(); return; }
  let stream;
  try { stream = await navigator.mediaDevices.getUserMedia({ audio: true }); }
  catch (e) { logBubble("err", "Microphone unavailable: " + e.message); return; }
  const rec = new MediaRecorder(stream); const parts = [];
  rec.ondataavailable = (e) => parts.push(e.data);
  rec.onstop = async () => {
    stream.getTracks().forEach((t) => t.stop());
    st.recorder = null; $("mic").classList.remove("rec"); $("mic").textContent = "Mic";
    const blob = new Blob(parts, { type: rec.mimeType || "audio/webm" });
    const res = await fetch("/api/audio", { method: "POST", body: blob, headers: { "Content-Type": blob.type } });
    const body = await res.json();
    if (!res.ok) { logBubble("err", body.message || "Recording refused."); return; }
    const id = ++st.turnSeq;
    st.pending.clear(); st.pending.set(id, performance.now());
    st.bubbles.set("u" + id, logBubble("user", `(speech, ${body.duration_s.toFixed(1)} s)`));
    send({ type: "say", audio_id: body.audio_id, id });
  };
  rec.start(); st.recorder = rec; $("mic").classList.add("rec"); $("mic").textContent = "Stop";
};

loadFaces();
