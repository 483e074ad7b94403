// test_web.mjs - the chat page in headless Chromium, driven by
// playwright-core (Debian's /usr/bin/chromium; no browser download).
// Against a random model, whose answers run until the context is full:
// enter the API key, send a message and watch the answer stream in, stop it
// (the server's busy slots drop to 0), send another, reload and find the
// conversation kept, check that Markdown rendering escapes model text.
// Against stories260K (when STORIES_PORT is set): a whole answer in words,
// and the screenshot kept as a test artifact.
//
//   node test_web.mjs PLAYWRIGHT_DIR PORT KEY SCREENSHOT.png
import path from "node:path";

const [pwDir, port, key, shot] = process.argv.slice(2);
const { chromium } = await import(path.resolve(pwDir, "index.mjs"));
const base = `http://127.0.0.1:${port}/`;
const storiesPort = process.env.STORIES_PORT;
let failures = 0, checks = 0;
function check(name, cond, detail) {
  checks++;
  if (cond) return console.log(`ok: ${name}`);
  failures++;
  console.log(`FAILED: ${name}${detail === undefined ? "" : ": " + JSON.stringify(detail)}`);
}

async function busySlots() {
  const r = await fetch(`${base}metrics`, { headers: { Authorization: `Bearer ${key}` } });
  const m = /^penny_slots_busy (\d+)$/m.exec(await r.text());
  return m ? Number(m[1]) : -1;
}

// A fresh profile directory (Playwright passes it as --user-data-dir).
const browser = await chromium.launchPersistentContext(process.env.CHROME_PROFILE, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1100, height: 720 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run"],
});
try {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(base);
  check("page title", (await page.title()) === "penny");
  await page.waitForFunction(() => document.getElementById("model").textContent.length > 0);
  check("without the key the model list asks for it", /API key/.test(await page.textContent("#model")),
    await page.textContent("#model"));

  await page.click("#settings summary");
  await page.fill("#api-key", key);
  await page.waitForFunction(() => document.getElementById("model").textContent.startsWith("model: "));
  check("with the key the model is listed", (await page.textContent("#model")).startsWith("model: small"));

  // 1. a long answer: tokens arrive while the stop button is shown (the
  // random model's text may be invisible bytes, so count tokens instead)
  const generated = async () => {
    const m = /generating… (\d+) tokens/.exec(await page.textContent("#status"));
    return m ? Number(m[1]) : -1;
  };
  await page.fill("#input", "Hello penny");
  await page.press("#input", "Enter");
  await page.waitForFunction(() => /generating… ([5-9]|\d\d+) tokens/.test(document.getElementById("status").textContent) &&
    !document.getElementById("stop").hidden, null, { timeout: 30000 });
  const partial = await generated();
  await page.waitForTimeout(300);
  const later = await generated();
  check("the answer streams in while generating", partial >= 5 && later > partial, [partial, later]);

  // 2. stop it: the request is aborted and the server frees the slot
  await page.click("#stop");
  await page.waitForSelector("#send:not([hidden])");
  check("stopped answer is marked", /\(stopped\)/.test(await page.textContent(".msg.assistant .who")));
  let busy = -1;
  for (let i = 0; i < 50 && busy !== 0; i++) {
    busy = await busySlots();
    if (busy) await page.waitForTimeout(20);
  }
  check("server slot freed after stop", busy === 0, busy);

  // 3. a second turn with a token limit finishes by itself
  await page.fill("#max-tokens", "12");
  await page.fill("#input", "Tell me more");
  await page.click("#send");
  await page.waitForFunction(() => document.querySelectorAll(".msg").length === 4 &&
    !document.getElementById("send").hidden, null, { timeout: 20000 });
  const texts = await page.$$eval(".msg .body", (els) => els.map((e) => e.textContent));
  const whos = await page.$$eval(".msg .who", (els) => els.map((e) => e.textContent));
  check("second answer complete", JSON.stringify(whos) === '["You","penny (stopped)","You","penny"]', whos);
  check("usage shown", /12 tokens in/.test(await page.textContent("#status")), await page.textContent("#status"));

  // 4. reload: the conversation is kept in the browser
  await page.reload();
  await page.waitForSelector(".msg");
  const after = await page.$$eval(".msg .body", (els) => els.map((e) => e.textContent));
  check("conversation kept after reload", JSON.stringify(after) === JSON.stringify(texts), after);
  check("conversation listed by its first message",
    (await page.$$eval("#chats li", (l) => l.map((e) => e.textContent)))[0].startsWith("Hello penny"));
  check("API key kept", (await page.inputValue("#api-key")) === key);

  // 5. rendering: Markdown subset, model text escaped
  const html = await page.evaluate(() => [renderAnswer("**b** `x<y` <script>alert(1)</script>\n\n```c\nint a<b;\n```"),
    renderAnswer("<think>hmm</think>Answer")]);
  check("markdown and escaping", html[0].includes("<strong>b</strong>") && html[0].includes("<code>x&lt;y</code>") &&
    html[0].includes("&lt;script&gt;") && !html[0].includes("<script>") &&
    html[0].includes('<pre><code data-lang="c">int a&lt;b;</code></pre>'), html[0]);
  check("reasoning folded", /^<details class="think"><summary>Reasoning<\/summary><p>hmm<\/p><\/details><p>Answer<\/p>$/.test(html[1]), html[1]);

  // 6. a new chat starts empty; the old one stays in the list
  await page.click("#new-chat");
  check("new chat", (await page.$$(".msg")).length === 0 && (await page.$$("#chats li")).length === 2);
  await page.click("#chats li:nth-child(2) button.open");
  await page.waitForSelector(".msg");
  check("switch back to the first chat", (await page.$$(".msg")).length === 4);
  check("no script errors", errors.length === 0, errors);

  // 7. a real model's answer, in words, and the screenshot
  const target = storiesPort ? `http://127.0.0.1:${storiesPort}/` : base;
  const p2 = await browser.newPage();
  p2.on("pageerror", (e) => errors.push(String(e)));
  await p2.goto(target);
  await p2.click("#settings summary");
  await p2.fill("#api-key", key);
  await p2.fill("#max-tokens", "60");
  await p2.waitForFunction(() => document.getElementById("model").textContent.startsWith("model: "));
  // Without stories260K this page shares the first server's origin, so it
  // opens with that conversation already stored: count from what is there.
  const before = (await p2.$$(".msg")).length;
  await p2.fill("#input", "Tell me a story about a cat.");
  await p2.press("#input", "Enter");
  await p2.waitForFunction((n) => document.querySelectorAll(".msg").length === n + 2 &&
    !document.getElementById("send").hidden, before, { timeout: 30000 });
  const story = await p2.$$eval(".msg.assistant .body", (l) => l[l.length - 1].textContent);
  if (storiesPort) check("stories260K answers in words", /[a-z]+ [a-z]+/i.test(story), story);
  await p2.screenshot({ path: shot });
  check("no script errors on the second page", errors.length === 0, errors);
} catch (e) {
  check("web test ran", false, String(e && e.stack ? e.stack : e));
} finally {
  await browser.close();
}
console.log(`web: ${checks} checks, ${failures} failed`);
process.exit(failures ? 1 : 0);
