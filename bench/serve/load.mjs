// load.mjs - a bounded load test of `penny serve`: C connections for S
// seconds, each sending a mix of requests back to back (streaming and not,
// chat and completions, clients that hang up mid-stream, malformed JSON,
// unknown models). Counts responses by status; fails on any 5xx other than
// 503 (queue full), on a wrong status for a bad request, and on network
// errors other than the hang-ups it caused itself.
//
//   node load.mjs BASE_URL [SECONDS=60] [CONNECTIONS=64] [MODEL]
const [base, secondsArg = "60", connArg = "64", model] = process.argv.slice(2);
const until = performance.now() + Number(secondsArg) * 1000;
const counts = {};
let bad = 0, aborted = 0, tokens = 0;
const count = (k) => { counts[k] = (counts[k] || 0) + 1; };

function pick(i) {
  const r = Math.random();
  const chat = { messages: [{ role: "user", content: `Hello ${i}` }], max_tokens: 1 + (i % 40) };
  if (r < 0.3) return { path: "chat/completions", body: { ...chat, stream: true }, expect: [200, 503] };
  if (r < 0.5) return { path: "completions", body: { prompt: "Once upon a time", max_tokens: 24 }, expect: [200, 503] };
  if (r < 0.65) return { path: "completions", body: { prompt: "x", max_tokens: 500, ignore_eos: true, stream: true },
    expect: [200, 503], abortAfter: 20 + Math.random() * 200 };
  if (r < 0.75) return { path: "chat/completions", raw: '{"messages": [', expect: [400] };
  if (r < 0.85) return { path: "completions", body: { prompt: "a", model: "nope" }, expect: [404] };
  if (r < 0.9) return { path: "completions", body: { prompt: "a", temperature: "hot" }, expect: [400] };
  return { path: "chat/completions", body: { ...chat, n: 2 }, expect: [400] };
}

async function once(i) {
  const q = pick(i);
  if (q.body && model) q.body.model = model;
  const ac = new AbortController();
  let timer = null;
  if (q.abortAfter) timer = setTimeout(() => ac.abort(), q.abortAfter);
  try {
    const r = await fetch(`${base}/v1/${q.path}`, { method: "POST", signal: ac.signal,
      headers: { "Content-Type": "application/json" }, body: q.raw || JSON.stringify(q.body) });
    const text = await r.text();
    count(r.status);
    if (!q.expect.includes(r.status) || (r.status >= 500 && r.status !== 503)) {
      bad++;
      console.log(`unexpected ${r.status} for ${q.path}: ${text.slice(0, 200)}`);
    }
    if (r.status === 503 && r.headers.get("retry-after") !== "1") bad++;
    tokens += (text.match(/"text":|"content":/g) || []).length;
  } catch (e) {
    if (e.name === "AbortError") aborted++;
    else { bad++; count("network"); console.log(`network error: ${e.message}`); }
  } finally {
    clearTimeout(timer);
  }
}

async function worker(w) {
  for (let i = w; performance.now() < until; i += 64) await once(i);
}

await Promise.all(Array.from({ length: Number(connArg) }, (_, w) => worker(w)));
console.log(JSON.stringify({ statuses: counts, aborted, bad, chunks: tokens }));
process.exit(bad ? 1 : 0);
