// scale.mjs - aggregate generation speed of `penny serve` at 1, 2, 4, 8, 16
// concurrent streams (continuous batching: every step evaluates all running
// streams at once, so the weights are read once per step for everyone).
//
//   node scale.mjs BASE_URL [LEVELS=1,2,4,8,16] [TOKENS=64]
//
// Before timing, each level's texts are checked against the same requests
// run alone (same seeds): batching must not change a single token. Prints a
// table and one JSON line per level.
const [base, levelsArg = "1,2,4,8,16", tokensArg = "64"] = process.argv.slice(2);
const levels = levelsArg.split(",").map(Number);
const tokens = Number(tokensArg);

async function stream(i) {
  const body = { prompt: `Stream ${i}: once upon a time`, max_tokens: tokens, temperature: 0.8,
    seed: 100 + i, ignore_eos: true, stream: true, stream_options: { include_usage: true } };
  const t0 = performance.now();
  const r = await fetch(`${base}/v1/completions`, { method: "POST", body: JSON.stringify(body),
    headers: { "Content-Type": "application/json" } });
  if (!r.ok) throw new Error(`HTTP ${r.status}: ${await r.text()}`);
  let text = "", usage = null, first = 0, buf = "";
  const dec = new TextDecoder();
  for await (const chunk of r.body) {
    buf += dec.decode(chunk, { stream: true });
    let k;
    while ((k = buf.indexOf("\n\n")) >= 0) {
      const line = buf.slice(0, k);
      buf = buf.slice(k + 2);
      if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
      const j = JSON.parse(line.slice(6));
      if (j.usage) usage = j.usage;
      if (j.choices[0] && j.choices[0].text) {
        if (!first) first = performance.now();
        text += j.choices[0].text;
      }
    }
  }
  return { text, tokens: usage.completion_tokens, ttft: first - t0, ms: performance.now() - t0 };
}

const maxLevel = Math.max(...levels);
const solo = [];
for (let i = 0; i < maxLevel; i++) solo.push((await stream(i)).text); // warm-up and reference
let base1 = 0;
console.log("streams  tokens/s (all)  tokens/s (each)  speedup  ttft ms (median)  same as alone");
for (const n of levels) {
  const t0 = performance.now();
  const runs = await Promise.all(Array.from({ length: n }, (_, i) => stream(i)));
  const s = (performance.now() - t0) / 1000;
  const total = runs.reduce((a, r) => a + r.tokens, 0);
  const tps = total / s;
  if (n === 1) base1 = tps;
  const same = runs.every((r, i) => r.text === solo[i]);
  const ttft = runs.map((r) => r.ttft).sort((a, b) => a - b)[Math.floor(n / 2)];
  console.log(`${String(n).padStart(7)}  ${tps.toFixed(1).padStart(14)}  ${(tps / n).toFixed(1).padStart(15)}  ` +
    `${(base1 ? tps / base1 : 0).toFixed(2).padStart(7)}  ${ttft.toFixed(0).padStart(16)}  ${same ? "yes" : "NO"}`);
  console.log(JSON.stringify({ streams: n, tokens_per_s: +tps.toFixed(2), speedup: +(tps / base1).toFixed(3),
    ttft_ms_median: +ttft.toFixed(1), same_as_alone: same }));
  if (!same) process.exitCode = 1;
}
