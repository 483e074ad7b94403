// spm_compare.mjs - penny's SentencePiece tokenizer vs Google's SentencePiece
// (Debian's spm_train / spm_encode) on a model trained here.
//
//   node spm_compare.mjs TOOL NODE_MODULES WORKDIR
//
// Trains a 1,000-piece BPE model with Llama's settings (byte fallback,
// identity normalization, a dummy "▁" prefix, whitespace kept, digits
// split) on the Book of Genesis, writes its pieces and scores as a GGUF
// vocabulary (tokenizer.ggml.model = "llama"), then compares ids line by
// line over the rest of the corpus (other books, dictionary entries,
// Moby-Dick, hard cases with many scripts and byte-fallback characters).
import { execFileSync, execSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { corpus } from './tokenizer_corpus.mjs';

const [tool, mods, work] = process.argv.slice(2);
fs.mkdirSync(work, { recursive: true });
const train = path.join(work, 'train.txt'), prefix = path.join(work, 'spm');
fs.writeFileSync(train, execSync('bible gen1:1-gen50:26', { maxBuffer: 1 << 24 }));
execFileSync('spm_train', [`--input=${train}`, `--model_prefix=${prefix}`, '--vocab_size=1000',
  '--model_type=bpe', '--byte_fallback=true', '--normalization_rule_name=identity',
  '--remove_extra_whitespaces=false', '--add_dummy_prefix=true', '--split_digits=true',
  '--allow_whitespace_only_pieces=true', '--character_coverage=1.0', '--unk_id=0', '--bos_id=1',
  '--eos_id=2', '--pad_id=-1', '--minloglevel=2'], { stdio: 'ignore' });
execFileSync('spm_export_vocab', [`--model=${prefix}.model`, `--output=${prefix}.vocab`]);

// Pieces, scores and types (as llama.cpp's converter assigns them).
const pieces = [], scores = [], types = [];
for (const line of fs.readFileSync(`${prefix}.vocab`, 'utf8').split('\n')) {
  if (!line) continue;
  const tab = line.lastIndexOf('\t');
  const p = line.slice(0, tab);
  pieces.push(p);
  scores.push(Number(line.slice(tab + 1)));
  types.push(p === '<unk>' ? 2 : p === '<s>' || p === '</s>' ? 3 : /^<0x[0-9A-F]{2}>$/.test(p) ? 6 : 1);
}

function gguf(kvs) {
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
    else {
      const f32 = type === 'f32[]';
      u32(9); u32(f32 ? 6 : 5); u64(val.length);
      const b = Buffer.alloc(4 * val.length);
      val.forEach((v, i) => (f32 ? b.writeFloatLE(v, 4 * i) : b.writeInt32LE(v, 4 * i)));
      parts.push(b);
    }
  }
  const n = parts.reduce((a, b) => a + b.length, 0);
  parts.push(Buffer.alloc((32 - (n % 32)) % 32));
  return Buffer.concat(parts);
}
const ggufPath = path.join(work, 'spm.gguf');
fs.writeFileSync(ggufPath, gguf([
  ['tokenizer.ggml.model', 'str', 'llama'], ['tokenizer.ggml.tokens', 'str[]', pieces],
  ['tokenizer.ggml.scores', 'f32[]', scores], ['tokenizer.ggml.token_type', 'i32[]', types],
  ['tokenizer.ggml.unknown_token_id', 'u32', 0], ['tokenizer.ggml.bos_token_id', 'u32', 1],
  ['tokenizer.ggml.eos_token_id', 'u32', 2], ['tokenizer.ggml.add_space_prefix', 'bool', true],
]));

// Lines (spm_encode reads one text per line), without the training text.
const lines = [];
for (const doc of corpus(mods, Number(process.env.PENNY_SPM_BYTES || 400000))) {
  for (const l of doc.toString('utf8').split('\n')) if (l && !l.includes('\r') && !l.includes('\0')) lines.push(l);
}
const linesPath = path.join(work, 'lines.txt');
fs.writeFileSync(linesPath, lines.join('\n') + '\n');
const ref = execFileSync('spm_encode', [`--model=${prefix}.model`, '--output_format=id', `--input=${linesPath}`],
  { maxBuffer: 1 << 28 }).toString().split('\n');
const mine = spawnSync(tool, [ggufPath, '--batch', '--no-bos'],
  { input: Buffer.concat(lines.map((l) => Buffer.from(l + '\0', 'utf8'))), maxBuffer: 1 << 28 });
if (mine.status !== 0) { console.log(`FAILED: ${tool}: ${mine.stderr}`); process.exit(1); }
const got = mine.stdout.toString().split('\n');
let bad = 0;
lines.forEach((l, i) => {
  if (got[i] === ref[i]) return;
  if (++bad <= 3) console.log(`DIFF ${JSON.stringify(l).slice(0, 200)}\n  spm_encode: ${ref[i]}\n  penny:      ${got[i]}`);
});
console.log(`sentencepiece: ${lines.length} lines (${pieces.length}-piece model trained by spm_train), ${bad} differ from spm_encode`);
process.exit(bad ? 1 : 0);
