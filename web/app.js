// app.js - the chat page's logic: conversations kept in localStorage,
// answers streamed from /v1/chat/completions (server-sent events read from
// fetch's body), a stop button that aborts the request (the server frees
// the slot when the connection closes), settings for the system prompt,
// sampling and the API key, and a small Markdown renderer for answers.
// Text from the model is always escaped before any markup is added.
"use strict";

const $ = (id) => document.getElementById(id);
const KEYS = { chats: "penny.chats", current: "penny.current", settings: "penny.settings" };

let chats = readJSON(KEYS.chats, []);
let currentId = localStorage.getItem(KEYS.current);
let settings = Object.assign({ system: "", temperature: 0.8, topP: 0.95, maxTokens: "", seed: "", apiKey: "" },
  readJSON(KEYS.settings, {}));
let modelId = null;
let running = null; // the AbortController of the request in flight

function readJSON(key, fallback) {
  try {
    const v = JSON.parse(localStorage.getItem(key));
    return v === null ? fallback : v;
  } catch {
    return fallback;
  }
}

function save() {
  localStorage.setItem(KEYS.chats, JSON.stringify(chats));
  localStorage.setItem(KEYS.current, currentId || "");
  localStorage.setItem(KEYS.settings, JSON.stringify(settings));
}

// ---- Markdown (a safe subset: fences, inline code, emphasis, headings, lists, links) ----

function escapeHtml(s) {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function inline(s) {
  const parts = escapeHtml(s).split(/(`[^`\n]+`)/);
  return parts.map((p, i) => {
    if (i % 2) return `<code>${p.slice(1, -1)}</code>`;
    return p.replace(/\*\*([^*\n]+)\*\*/g, "<strong>$1</strong>")
      .replace(/(^|[^*])\*([^*\n]+)\*/g, "$1<em>$2</em>")
      .replace(/\[([^\]\n]+)\]\((https?:\/\/[^\s)]+)\)/g, '<a href="$2" target="_blank" rel="noopener">$1</a>');
  }).join("");
}

function blocks(text) {
  const out = [];
  for (const para of text.split(/\n{2,}/)) {
    const lines = para.split("\n").filter((l) => l.length);
    if (!lines.length) continue;
    const h = lines.length === 1 && /^(#{1,4}) (.*)$/.exec(lines[0]);
    if (h) { out.push(`<h${h[1].length + 2}>${inline(h[2])}</h${h[1].length + 2}>`); continue; }
    if (lines.every((l) => /^\s*([-*]|\d+\.) /.test(l))) {
      const tag = /^\s*\d+\./.test(lines[0]) ? "ol" : "ul";
      out.push(`<${tag}>` + lines.map((l) => `<li>${inline(l.replace(/^\s*([-*]|\d+\.) /, ""))}</li>`).join("") + `</${tag}>`);
      continue;
    }
    out.push(`<p>${lines.map(inline).join("<br>")}</p>`);
  }
  return out.join("");
}

function markdown(text) {
  const parts = text.split(/^```/m); // even: prose, odd: code (an unclosed fence runs to the end)
  return parts.map((p, i) => {
    if (i % 2 === 0) return blocks(p);
    const nl = p.indexOf("\n");
    const lang = nl < 0 ? "" : p.slice(0, nl).trim();
    const code = nl < 0 ? "" : p.slice(nl + 1).replace(/\n$/, "");
    return `<pre><code data-lang="${escapeHtml(lang)}">${escapeHtml(code)}</code></pre>`;
  }).join("");
}

// Reasoning models wrap their thoughts in <think>...</think>: shown folded.
function renderAnswer(text) {
  const m = /^\s*<think>([\s\S]*?)(<\/think>|$)([\s\S]*)$/.exec(text);
  if (!m) return markdown(text);
  const open = m[2] ? "" : " open";
  return `<details class="think"${open}><summary>Reasoning</summary>${markdown(m[1])}</details>` + markdown(m[3]);
}

// ---- conversations ----

function current() {
  return chats.find((c) => c.id === currentId) || null;
}

function newChat() {
  const c = { id: Date.now().toString(36) + Math.random().toString(36).slice(2, 6), title: "New chat", messages: [] };
  chats.unshift(c);
  currentId = c.id;
  save();
  render();
  $("input").focus();
}

function renderList() {
  const ul = $("chats");
  ul.replaceChildren();
  for (const c of chats) {
    const li = document.createElement("li");
    if (c.id === currentId) li.className = "current";
    const open = document.createElement("button");
    open.className = "open";
    open.type = "button";
    open.textContent = c.title;
    open.onclick = () => { if (!running) { currentId = c.id; save(); render(); } };
    const del = document.createElement("button");
    del.className = "delete";
    del.type = "button";
    del.title = "Delete";
    del.textContent = "×";
    del.onclick = () => {
      if (running) return;
      chats = chats.filter((x) => x !== c);
      if (currentId === c.id) currentId = chats.length ? chats[0].id : null;
      save();
      render();
    };
    li.append(open, del);
    ul.append(li);
  }
}

function messageEl(m, streaming) {
  const div = document.createElement("div");
  div.className = `msg ${m.role}` + (m.error ? " error" : "");
  const who = document.createElement("div");
  who.className = "who";
  who.textContent = m.role === "user" ? "You" : "penny" + (m.stopped ? " (stopped)" : "");
  const body = document.createElement("div");
  body.className = "body" + (streaming ? " cursor" : "");
  if (m.role === "user") body.textContent = m.content;
  else body.innerHTML = renderAnswer(m.content) + (m.error ? `<p>${escapeHtml(m.error)}</p>` : "");
  div.append(who, body);
  return div;
}

function render() {
  renderList();
  const box = $("messages");
  box.replaceChildren();
  const c = current();
  for (const m of c ? c.messages : []) box.append(messageEl(m, false));
  box.scrollTop = box.scrollHeight;
}

// ---- talking to the server ----

function headers() {
  const h = { "Content-Type": "application/json" };
  if (settings.apiKey) h.Authorization = `Bearer ${settings.apiKey}`;
  return h;
}

async function loadModel() {
  try {
    const r = await fetch("v1/models", { headers: headers() });
    const j = await r.json();
    if (!r.ok) throw new Error(j.error ? j.error.message : r.statusText);
    modelId = j.data[0].id;
    $("model").textContent = `model: ${modelId} (${j.data[0].meta ? j.data[0].meta.description : ""})`;
  } catch (e) {
    $("model").textContent = `model list: ${e.message} (an API key goes in Settings)`;
  }
}

// Reads server-sent events from a fetch response; calls onData per event.
async function readEvents(response, onData) {
  const reader = response.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const event = buf.slice(0, i);
      buf = buf.slice(i + 2);
      for (const line of event.split("\n"))
        if (line.startsWith("data: ") && line !== "data: [DONE]") onData(JSON.parse(line.slice(6)));
    }
  }
}

function requestBody(c) {
  const messages = c.messages.filter((m) => !m.error && (m.role === "user" || m.content))
    .map((m) => ({ role: m.role, content: m.content }));
  if (settings.system.trim()) messages.unshift({ role: "system", content: settings.system });
  const body = { messages, stream: true, stream_options: { include_usage: true },
    temperature: Number(settings.temperature), top_p: Number(settings.topP) };
  if (modelId) body.model = modelId;
  if (settings.maxTokens) body.max_tokens = Number(settings.maxTokens);
  if (settings.seed !== "") body.seed = Number(settings.seed);
  return body;
}

async function send(text) {
  if (!current()) newChat();
  const c = current();
  c.messages.push({ role: "user", content: text });
  if (c.title === "New chat") c.title = text.slice(0, 48);
  const body = requestBody(c);
  const answer = { role: "assistant", content: "" };
  c.messages.push(answer);
  save();
  render();
  const el = $("messages").lastChild;
  const out = el.querySelector(".body");
  out.classList.add("cursor");
  running = new AbortController();
  setBusy(true);
  const t0 = performance.now();
  let usage = null, frame = 0, pieces = 0;
  const paint = () => {
    frame = 0;
    out.innerHTML = renderAnswer(answer.content);
    $("messages").scrollTop = 1e9;
    $("status").textContent = `generating… ${pieces} tokens`;
  };
  try {
    const r = await fetch("v1/chat/completions", { method: "POST", headers: headers(), body: JSON.stringify(body),
      signal: running.signal });
    if (!r.ok) {
      const j = await r.json().catch(() => null);
      throw new Error(j && j.error ? `${r.status}: ${j.error.message}` : `${r.status} ${r.statusText}`);
    }
    await readEvents(r, (j) => {
      if (j.error) throw new Error(j.error.message);
      if (j.usage) usage = j.usage;
      const d = j.choices && j.choices[0] && j.choices[0].delta;
      if (d && d.content) {
        answer.content += d.content;
        pieces++;
        if (!frame) frame = requestAnimationFrame(paint);
      }
    });
    const s = (performance.now() - t0) / 1000;
    $("status").textContent = usage ? `${usage.completion_tokens} tokens in ${s.toFixed(1)} s ` +
      `(${(usage.completion_tokens / s).toFixed(1)} tokens/s), prompt ${usage.prompt_tokens} tokens` : "";
  } catch (e) {
    if (e.name === "AbortError") answer.stopped = true;
    else answer.error = e.message;
    $("status").textContent = answer.stopped ? "stopped" : "";
  } finally {
    if (frame) cancelAnimationFrame(frame);
    running = null;
    setBusy(false);
    save();
    render();
  }
}

function setBusy(busy) {
  $("send").hidden = busy;
  $("stop").hidden = !busy;
}

// ---- wiring ----

function bindSetting(id, key, output) {
  const el = $(id);
  el.value = settings[key];
  if (output) $(output).textContent = el.value;
  el.addEventListener("input", () => {
    settings[key] = el.value;
    if (output) $(output).textContent = el.value;
    save();
    if (key === "apiKey") loadModel();
  });
}

$("composer").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("input").value.trim();
  if (!text || running) return;
  $("input").value = "";
  send(text);
});
$("input").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) {
    e.preventDefault();
    $("composer").requestSubmit();
  }
});
$("stop").addEventListener("click", () => running && running.abort());
$("new-chat").addEventListener("click", () => { if (!running) newChat(); });
bindSetting("system", "system");
bindSetting("temperature", "temperature", "temperature-value");
bindSetting("top-p", "topP", "top-p-value");
bindSetting("max-tokens", "maxTokens");
bindSetting("seed", "seed");
bindSetting("api-key", "apiKey");
render();
loadModel();
