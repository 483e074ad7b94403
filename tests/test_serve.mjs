// test_serve.mjs - drives a running `penny serve` with the official `openai`
// npm client (and plain fetch where a client would hide what is checked:
// raw bodies, headers, malformed JSON). Started by test_serve.sh, which
// chooses the server's options for each group:
//
//   node test_serve.mjs GROUP OPENAI_DIR PORT KEY
//
//   api      protocol and errors on stories260K (--parallel 16, --ctx 256,
//            --max-body 65536): chat and completions, streaming, usage, stop
//            strings across token boundaries, max_tokens, seeds, batch
//            invariance of 16 concurrent streams, prefix reuse, every error
//            status with OpenAI's error JSON.
//   queue    one slot and a queue of one: 503 with Retry-After, and a client
//            that disconnects frees its slot at once (streaming or not).
//   latency  four slots, small prefill chunks: a long prompt arriving while
//            streams run does not stall them.
//
// Exits 1 if any check failed. The stories model writes silly text, so the
// checks are about the protocol, never about what the answers say.
import { performance } from "node:perf_hooks";
import path from "node:path";

const [group, openaiDir, port, key] = process.argv.slice(2);
const { default: OpenAI } = await import(path.resolve(openaiDir, "index.mjs"));
const base = `http://127.0.0.1:${port}`;
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: key, maxRetries: 0, timeout: 120000 });
const MODEL = process.env.MODEL_ID;

let failures = 0, checks = 0;
function check(name, cond, detail) {
  checks++;
  if (cond) return console.log(`ok: ${name}`);
  failures++;
  console.log(`FAILED: ${name}${detail === undefined ? "" : ": " + JSON.stringify(detail)}`);
}

async function raw(p, { method = "GET", body, headers = {}, auth = true } = {}) {
  const h = { ...headers };
  if (auth && key) h.Authorization = `Bearer ${key}`;
  if (body !== undefined && !h["Content-Type"]) h["Content-Type"] = "application/json";
  const r = await fetch(base + p, { method, body, headers: h });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, headers: r.headers, text, json };
}

// The error object OpenAI sends: {"error":{"message","type","param","code"}}.
function isErrorShape(j) {
  const e = j && j.error;
  return !!e && typeof e.message === "string" && e.message.length > 0 &&
    typeof e.type === "string" && "param" in e && "code" in e;
}

async function expectError(name, promise, status, code, param) {
  try {
    await promise;
    check(name, false, "no error");
  } catch (e) {
    const ok = e.status === status && (code === undefined || e.code === code) &&
      (param === undefined || e.param === param) && isErrorShape({ error: e.error });
    check(name, ok, { status: e.status, code: e.code, param: e.param, error: e.error });
  }
}

async function rawError(name, res, status, code) {
  check(name, res.status === status && isErrorShape(res.json) &&
    (code === undefined || res.json.error.code === code), { status: res.status, body: res.text.slice(0, 300) });
}

// Streams a chat completion; returns the text, chunks and their arrival times.
async function streamChat(params, opts) {
  const s = await client.chat.completions.create({ model: MODEL, stream: true, ...params }, opts);
  const out = { text: "", chunks: [], times: [], finish: null, usage: null, roleFirst: false };
  for await (const c of s) {
    out.chunks.push(c);
    if (c.usage) out.usage = c.usage;
    const ch = c.choices[0];
    if (!ch) continue;
    if (out.chunks.length === 1) out.roleFirst = ch.delta.role === "assistant";
    if (ch.delta.content) {
      out.text += ch.delta.content;
      out.times.push(performance.now());
    }
    if (ch.finish_reason) out.finish = ch.finish_reason;
  }
  return out;
}

// out may be passed in to see the progress of a stream that gets aborted.
async function streamCompletion(params, opts, out = { text: "", pieces: [], times: [], finish: null, usage: null }) {
  const s = await client.completions.create({ model: MODEL, stream: true, ...params }, opts);
  for await (const c of s) {
    if (c.usage) out.usage = c.usage;
    const ch = c.choices[0];
    if (!ch) continue;
    if (ch.text) {
      out.text += ch.text;
      out.pieces.push(ch.text);
      out.times.push(performance.now());
    }
    if (ch.finish_reason) out.finish = ch.finish_reason;
  }
  return out;
}

async function metric(name) {
  const r = await raw("/metrics");
  const m = r.text.match(new RegExp(`^${name} ([0-9.e+-]+)$`, "m"));
  return m ? Number(m[1]) : NaN;
}

async function waitFor(what, fn, ms = 5000) {
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    if (await fn()) return performance.now() - t0;
    await new Promise((r) => setTimeout(r, 20));
  }
  return -1;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- api ----

async function apiBasics() {
  const models = await client.models.list();
  check("models.list has the model", models.data.length === 1 && models.data[0].id === MODEL, models.data);
  const one = await client.models.retrieve(MODEL);
  check("models.retrieve", one.id === MODEL && one.object === "model");
  const health = await raw("/health", { auth: false });
  check("GET /health without a key", health.status === 200 && health.json.status === "ok", health.text);
  const page = await raw("/", { auth: false });
  check("GET / serves the chat page", page.status === 200 &&
    page.headers.get("content-type").startsWith("text/html") && /<html/i.test(page.text));
}

async function apiChat() {
  const r = await client.chat.completions.create({
    model: MODEL, messages: [{ role: "system", content: "You tell stories." },
      { role: "user", content: "Tell me a story." }], max_tokens: 12, temperature: 0,
  });
  const c = r.choices[0];
  check("chat: object and role", r.object === "chat.completion" && c.message.role === "assistant" &&
    typeof c.message.content === "string" && r.id.startsWith("chatcmpl-") && r.model === MODEL, r);
  check("chat: usage adds up", r.usage.prompt_tokens > 10 && r.usage.completion_tokens <= 12 &&
    r.usage.total_tokens === r.usage.prompt_tokens + r.usage.completion_tokens, r.usage);
  check("chat: finish_reason", ["stop", "length"].includes(c.finish_reason), c.finish_reason);

  const len = await client.chat.completions.create({
    model: MODEL, messages: [{ role: "user", content: "Once upon a time" }],
    max_completion_tokens: 5, temperature: 0, ignore_eos: true,
  });
  check("max_completion_tokens 5 -> length, 5 tokens", len.choices[0].finish_reason === "length" &&
    len.usage.completion_tokens === 5, len.usage);

  const s = await streamChat({ messages: [{ role: "user", content: "Hello" }], max_tokens: 7,
    temperature: 0, ignore_eos: true, stream_options: { include_usage: true } });
  const last = s.chunks[s.chunks.length - 1];
  check("stream chat: role first, text, length", s.roleFirst && s.text.length > 0 && s.finish === "length", s);
  check("stream chat: usage chunk last with empty choices", last.choices.length === 0 &&
    last.usage && last.usage.completion_tokens === 7, last);
  check("stream chat: chunk object and usage null before", s.chunks.every((c) =>
    c.object === "chat.completion.chunk" && c.id === s.chunks[0].id &&
    (c === last || c.usage === null)));
  const whole = await client.chat.completions.create({ messages: [{ role: "user", content: "Hello" }],
    max_tokens: 7, temperature: 0, ignore_eos: true, model: MODEL });
  check("stream and non-stream give the same text", whole.choices[0].message.content === s.text,
    [whole.choices[0].message.content, s.text]);
  const ns = await streamChat({ messages: [{ role: "user", content: "Hi" }], max_tokens: 3 });
  check("stream without include_usage has no usage", ns.usage === null && ns.chunks.every((c) => !("usage" in c)));

  const parts = await client.chat.completions.create({ model: MODEL, max_tokens: 3, temperature: 0,
    messages: [{ role: "developer", content: "Be brief." },
      { role: "user", content: [{ type: "text", text: "Hello" }, { type: "text", text: "there" }] }] });
  check("content parts and developer role", typeof parts.choices[0].message.content === "string");
}

async function apiCompletions() {
  const want = process.env.EXPECT_GREEDY;
  const r = await client.completions.create({ model: MODEL, prompt: "Once upon a time", max_tokens: 24,
    temperature: 0, ignore_eos: true });
  check("completion: greedy text equals `penny run --temp 0`", r.choices[0].text === want,
    [r.choices[0].text, want]);
  check("completion: object, finish, usage", r.object === "text_completion" && r.id.startsWith("cmpl-") &&
    r.choices[0].finish_reason === "length" && r.usage.completion_tokens === 24 && r.usage.prompt_tokens === 5,
    r);
  const s = await streamCompletion({ prompt: "Once upon a time", max_tokens: 24, temperature: 0,
    ignore_eos: true, stream_options: { include_usage: true } });
  check("stream completion equals greedy text", s.text === want && s.finish === "length" &&
    s.usage && s.usage.completion_tokens === 24, [s.text, s.finish, s.usage]);
  const ids = await client.completions.create({ model: MODEL, prompt: [1, 403, 407, 261, 378], max_tokens: 24,
    temperature: 0, ignore_eos: true });
  check("prompt as token ids", ids.choices[0].text === want, ids.choices[0].text);

  // stop strings that straddle token boundaries: from two adjacent pieces
  let tested = 0;
  for (let i = 1; i + 1 < s.pieces.length && tested < 3; i += 2) {
    const a = s.pieces[i], b = s.pieces[i + 1];
    if (a.length < 1 || b.length < 1) continue;
    const stop = a.slice(-2) + b.slice(0, 2);
    const cut = want.indexOf(stop);
    const r2 = await client.completions.create({ model: MODEL, prompt: "Once upon a time", max_tokens: 24,
      temperature: 0, ignore_eos: true, stop: [stop, "zzzz-never"] });
    check(`stop ${JSON.stringify(stop)} across tokens`, r2.choices[0].text === want.slice(0, cut) &&
      r2.choices[0].finish_reason === "stop", [r2.choices[0].text, want.slice(0, cut)]);
    const s2 = await streamCompletion({ prompt: "Once upon a time", max_tokens: 24, temperature: 0,
      ignore_eos: true, stop });
    check(`stream stop ${JSON.stringify(stop)} never sent`, s2.text === want.slice(0, cut) &&
      s2.finish === "stop", [s2.text, s2.finish]);
    tested++;
  }
  check("stop strings tested", tested >= 2, tested);

  // A client that reads late still gets one event per token, not one blob.
  const late = await fetch(`${base}/v1/completions`, { method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: MODEL, prompt: "Once upon a time", max_tokens: 24, temperature: 0,
      ignore_eos: true, stream: true }) });
  await new Promise((r) => setTimeout(r, 500));
  const events = (await late.text()).split("\n\n").filter((e) => e.startsWith("data: {"))
    .map((e) => JSON.parse(e.slice(6)).choices[0]).filter((c) => c && c.text);
  check("late reader: one event per token", events.length === 24 &&
    events.map((c) => c.text).join("") === want, events.map((c) => c.text));
}

async function apiSeeds() {
  const p = { model: MODEL, prompt: "The dog", max_tokens: 32, temperature: 1, ignore_eos: true };
  const a = await client.completions.create({ ...p, seed: 42 });
  const b = await client.completions.create({ ...p, seed: 42 });
  const c = await client.completions.create({ ...p, seed: 43 });
  check("same seed, same text", a.choices[0].text === b.choices[0].text);
  check("other seed, other text", a.choices[0].text !== c.choices[0].text);
  const pen = await client.completions.create({ ...p, seed: 42, presence_penalty: 1.5, frequency_penalty: 1.5,
    top_p: 0.9 });
  check("penalties and top_p accepted", typeof pen.choices[0].text === "string" && pen.usage.completion_tokens === 32);
}

// 16 concurrent streams give exactly the tokens each gives alone.
async function apiBatchInvariance() {
  const words = ["cat", "dog", "king", "tree", "boat", "bird", "girl", "boy", "sun", "moon", "fish",
    "frog", "cake", "ball", "car", "bear"];
  const req = (i) => ({ prompt: `Once upon a time there was a ${words[i]}`, max_tokens: 40 + i,
    temperature: 0.9, seed: 1000 + i, ignore_eos: true, stream_options: { include_usage: true } });
  const alone = [];
  for (let i = 0; i < 16; i++) alone.push((await streamCompletion(req(i))).text);
  const before = await metric("penny_batch_max"); // solo runs so far: 1
  const together = await Promise.all(words.map((_, i) => streamCompletion(req(i))));
  // The scheduler's own high-water mark: sampling penny_slots_busy missed the
  // overlap on a loaded machine.
  const peak = await metric("penny_batch_max");
  const same = together.filter((t, i) => t.text === alone[i]).length;
  check("16 concurrent streams equal their solo runs", same === 16, { same, alone, together: together.map((t) => t.text) });
  check("the 16 ran side by side", before < 8 && peak >= 8, [before, peak]);
  check("all 16 finished by length", together.every((t, i) => t.finish === "length" && t.usage.completion_tokens === 40 + i));
}

async function apiPrefixReuse() {
  const messages = [{ role: "system", content: "You are a storyteller who tells long stories about animals." },
    { role: "user", content: "Tell me about a fox and a rabbit." }];
  const a = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 8, temperature: 0 });
  const b = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 8, temperature: 0 });
  const cached = b.usage.prompt_tokens_details.cached_tokens;
  check("a repeated prompt reuses the slot's cache", cached === b.usage.prompt_tokens - 1, b.usage);
  check("reused cache gives the same answer", a.choices[0].message.content === b.choices[0].message.content);
}

async function apiErrors() {
  const chat = (extra) => client.chat.completions.create({ model: MODEL, max_tokens: 2,
    messages: [{ role: "user", content: "hi" }], ...extra });
  await expectError("unknown model -> 404", chat({ model: "gpt-9" }), 404, "model_not_found", "model");
  await expectError("wrong type temperature -> 400", chat({ temperature: "hot" }), 400, "invalid_type", "temperature");
  await expectError("temperature out of range -> 400", chat({ temperature: 3 }), 400, "invalid_value", "temperature");
  await expectError("max_tokens not an integer -> 400", chat({ max_tokens: 2.5 }), 400, "invalid_type", "max_tokens");
  await expectError("stop of wrong type -> 400", chat({ stop: 7 }), 400, "invalid_type", "stop");
  await expectError("n=2 -> 400", chat({ n: 2 }), 400, undefined, "n");
  await expectError("empty messages -> 400", chat({ messages: [] }), 400, undefined, "messages");
  await expectError("bad role -> 400", chat({ messages: [{ role: "wizard", content: "x" }] }), 400, undefined,
    "messages[0].role");
  await expectError("messages not an array -> 400", chat({ messages: "hi" }), 400, "invalid_type", "messages");
  await expectError("stream_options without stream -> 400", chat({ stream_options: { include_usage: true } }), 400);
  await expectError("logprobs unsupported -> 400", chat({ logprobs: true }), 400, "unsupported_parameter");
  const long = "Once upon a time there was a big dog. ".repeat(40);
  await expectError("prompt longer than the context -> 400",
    client.completions.create({ model: MODEL, prompt: long }), 400, "context_length_exceeded");
  try {
    await client.completions.create({ model: MODEL, prompt: long });
  } catch (e) {
    check("context error says so", /maximum context length is 256 tokens/.test(e.error.message), e.error.message);
  }
  await expectError("prompt + max_tokens over the context -> 400",
    client.completions.create({ model: MODEL, prompt: "Once", max_tokens: 300 }), 400, "context_length_exceeded");
  await expectError("token id outside the vocabulary -> 400",
    client.completions.create({ model: MODEL, prompt: [1, 99999] }), 400, undefined, "prompt");
  await expectError("missing prompt -> 400", client.completions.create({ model: MODEL }), 400, undefined, "prompt");

  await rawError("malformed JSON -> 400", await raw("/v1/chat/completions", { method: "POST", body: "{\"messages\": [" }),
    400, "invalid_json");
  await rawError("trailing garbage -> 400", await raw("/v1/completions", { method: "POST", body: "{\"prompt\":\"a\"} x" }),
    400, "invalid_json");
  await rawError("JSON array body -> 400", await raw("/v1/completions", { method: "POST", body: "[1,2]" }), 400);
  await rawError("empty body -> 400", await raw("/v1/completions", { method: "POST", body: "" }), 400);
  const big = JSON.stringify({ model: MODEL, prompt: "x".repeat(70000) });
  await rawError("body over --max-body -> 413", await raw("/v1/completions", { method: "POST", body: big }), 413,
    "request_too_large");
  await rawError("unknown path -> 404", await raw("/v1/nothing"), 404);
  await rawError("GET on completions -> 405", await raw("/v1/completions"), 405);
  const after = await client.completions.create({ model: MODEL, prompt: "Once", max_tokens: 2 });
  check("server fine after bad requests", after.choices.length === 1);
}

async function apiAuth() {
  const bad = new OpenAI({ baseURL: `${base}/v1`, apiKey: key + "x", maxRetries: 0 });
  await expectError("wrong API key -> 401", bad.models.list(), 401, "invalid_api_key");
  const wrongLen = new OpenAI({ baseURL: `${base}/v1`, apiKey: "k", maxRetries: 0 });
  await expectError("short wrong API key -> 401",
    wrongLen.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "x" }] }), 401);
  await rawError("missing API key -> 401", await raw("/v1/models", { auth: false }), 401, "invalid_api_key");
  await rawError("metrics need the key", await raw("/metrics", { auth: false }), 401);
  const m = await raw("/metrics");
  check("metrics: Prometheus text", m.status === 200 && /^# TYPE penny_slots_busy gauge$/m.test(m.text) &&
    /^penny_generated_tokens_total \d+$/m.test(m.text) && /^penny_queue_depth 0$/m.test(m.text) &&
    /^penny_tokens_per_second [0-9.e+]+$/m.test(m.text) && /^penny_http_requests_total \d+$/m.test(m.text), m.text);
  check("metrics: tokens/s measured", (await metric("penny_tokens_per_second")) > 0);
}

// -------------------------------------------------------------- queue ----

async function queueFull() {
  const long = { prompt: [1, 5, 6, 7], max_tokens: 1500, temperature: 0, ignore_eos: true };
  const acA = new AbortController();
  const a = await client.completions.create({ model: MODEL, stream: true, ...long }, { signal: acA.signal });
  const it = a[Symbol.asyncIterator]();
  await it.next(); // A holds the only slot
  const b = client.completions.create({ model: MODEL, prompt: "queued", max_tokens: 3 });
  const queued = await waitFor("queue depth 1", async () => (await metric("penny_queue_depth")) === 1);
  check("second request waits in the queue", queued >= 0);
  const c = await raw("/v1/completions", { method: "POST", body: JSON.stringify({ prompt: "third", max_tokens: 2 }) });
  await rawError("queue full -> 503", c, 503, "server_overloaded");
  check("503 carries Retry-After", c.headers.get("retry-after") === "1", c.headers.get("retry-after"));
  await expectError("queue full via the client -> 503",
    client.completions.create({ model: MODEL, prompt: "fourth", max_tokens: 2 }), 503);
  const t0 = performance.now();
  acA.abort();
  try { while (!(await it.next()).done); } catch { /* aborted */ }
  const rb = await b;
  const dt = performance.now() - t0;
  check("aborting the stream lets the queued request run", rb.choices[0].text.length >= 0 && dt < 3000, dt);
  const idle = await waitFor("idle", async () => (await metric("penny_slots_busy")) === 0, 3000);
  check("slot free after both", idle >= 0);
  check("disconnect counted", (await metric("penny_client_disconnects_total")) >= 1);
}

async function disconnectFrees(stream) {
  const ac = new AbortController();
  const p = client.completions.create({ model: MODEL, prompt: [1, 9, 10], max_tokens: 1500, temperature: 0,
    ignore_eos: true, stream }, { signal: ac.signal });
  const busy = await waitFor("busy", async () => (await metric("penny_slots_busy")) === 1, 5000);
  check(`${stream ? "stream" : "non-stream"}: request is running`, busy >= 0);
  await sleep(100);
  const genBefore = await metric("penny_generated_tokens_total");
  ac.abort();
  try { const s = await p; if (stream) for await (const _ of s); } catch { /* aborted */ }
  const freed = await waitFor("freed", async () => (await metric("penny_slots_busy")) === 0, 3000);
  check(`${stream ? "stream" : "non-stream"}: disconnect frees the slot at once (${freed.toFixed(0)} ms)`,
    freed >= 0 && freed < 1000, freed);
  const genAfter = await metric("penny_generated_tokens_total");
  check(`${stream ? "stream" : "non-stream"}: generation stopped early`, genAfter - genBefore < 1400,
    [genBefore, genAfter]);
}

// ------------------------------------------------------------ latency ----

// Three streams run; then a prompt of 1200 tokens arrives. Its prefill is
// chunked, so the streams keep flowing: their longest pause while it is
// evaluated must be a small fraction of its time to first token (without
// chunking, one pause would last the whole prefill).
async function longPromptNoStall() {
  const ac = new AbortController();
  const outs = [0, 1, 2].map(() => ({ text: "", pieces: [], times: [], finish: null, usage: null }));
  const runs = outs.map((o, i) => streamCompletion({ prompt: [1, 20 + i, 30], max_tokens: 2000, temperature: 0,
    ignore_eos: true }, { signal: ac.signal }, o).catch((e) => e));
  await sleep(300);
  const ids = [1];
  for (let i = 0; i < 1200; i++) ids.push(3 + ((i * 37) % 300));
  const tSend = performance.now();
  const s = await client.completions.create({ model: MODEL, prompt: ids, max_tokens: 1, stream: true });
  let tFirst = 0;
  for await (const c of s) if (!tFirst && c.choices[0] && c.choices[0].text !== undefined) tFirst = performance.now();
  const ttft = tFirst - tSend;
  await sleep(100);
  const stillRunning = outs.every((o) => o.finish === null);
  ac.abort();
  await Promise.all(runs);
  let maxGap = 0, n = 0;
  for (const r of outs)
    for (let i = 1; i < r.times.length; i++)
      if (r.times[i] > tSend && r.times[i - 1] < tFirst) {
        maxGap = Math.max(maxGap, r.times[i] - r.times[i - 1]);
        n++;
      }
  console.log(`long prompt: time to first token ${ttft.toFixed(0)} ms, longest stream pause meanwhile ` +
    `${maxGap.toFixed(0)} ms over ${n} gaps`);
  check("the streams outlasted the long prefill", stillRunning);
  check("streams kept running during the long prefill", n >= 30, n);
  check("longest pause < 1/3 of the long prompt's time to first token", maxGap < ttft / 3, { maxGap, ttft });
  const idle = await waitFor("idle", async () => (await metric("penny_slots_busy")) === 0, 3000);
  check("aborted streams freed their slots", idle >= 0);
}

const groups = {
  api: [apiBasics, apiChat, apiCompletions, apiSeeds, apiBatchInvariance, apiPrefixReuse, apiErrors, apiAuth],
  queue: [queueFull, () => disconnectFrees(true), () => disconnectFrees(false)],
  latency: [longPromptNoStall],
};
for (const t of groups[group]) {
  try {
    await t();
  } catch (e) {
    check(`${t.name} threw`, false, String(e && e.stack ? e.stack : e));
  }
}
console.log(`${group}: ${checks} checks, ${failures} failed`);
process.exit(failures ? 1 : 0);
