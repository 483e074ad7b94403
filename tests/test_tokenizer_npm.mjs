// test_tokenizer_npm.mjs - penny's SentencePiece ids vs an independent
// implementation, on the real Llama-2 vocabulary. Run by
// tests/test_tokenizer_npm.sh, which installs the reference.
//
// The reference is the npm package llama-tokenizer-js (LLaMA 1/2 vocabulary,
// its own JavaScript BPE-by-score with byte fallback, written to match
// Meta's SentencePiece model). Both add BOS and the leading "▁". Texts:
// hand-picked edge cases plus seeded random ones (mixed scripts, emoji,
// whitespace runs, characters absent from the vocabulary), all encoded by
// one tool_tokenize --batch process. The empty text is left out: the
// reference returns [] where llama.cpp (and penny) return [BOS].
//
// usage: node test_tokenizer_npm.mjs REF_DIR TOOL GGUF
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';

const [refDir, tool, gguf] = process.argv.slice(2);
const ref = (await import(pathToFileURL(`${refDir}/llama-tokenizer.js`).href)).default;

const fixed = [
  'Hello world', ' Hello  world ', 'a\nb', '日本語 😀', '   ', ' ', '\n', '\r\n', 'a',
  'x\u{10FFFF}x', 'The quick brown fox jumps over the lazy dog.', '1234567890 3.14159 1e-9',
  '  leading', 'trailing   ', 'multiple    spaces\n\n\nnewlines\ttabs',
  'Ça va? Déjà vu — naïve café', 'Привет, мир!', '안녕하세요 세계', 'مرحبا بالعالم',
  '👩‍👩‍👧‍👦 family emoji 🏳️‍🌈', 'def f(x):\n    return x**2  # comment',
  '<s> not special </s> <unk>', '\u2581 already escaped', 'ÿþ', '🤖🤖🤖', 'ﬁ ligature',
  'Ω≈ç√∫˜µ≤≥÷', '\u00a0nbsp\u200bzwsp\ufeffbom', 'a'.repeat(300), ' '.repeat(50) + 'x',
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

const input = Buffer.concat(texts.map((s) => Buffer.from(s + '\0', 'utf8')));
const lines = execFileSync(tool, [gguf, '--batch'], { input, maxBuffer: 1 << 26 })
  .toString().split('\n');
let bad = 0;
texts.forEach((s, i) => {
  const want = ref.encode(s).join(' ');
  if (lines[i] === want) return;
  if (++bad <= 5) console.log(`DIFF ${JSON.stringify(s)}\n  reference: ${want}\n  penny:     ${lines[i]}`);
});
console.log(`${texts.length} texts compared, ${bad} differ`);
process.exit(bad ? 1 : 0);
