// Playground measurement (docs/benchmarks.md, "Playground"): server memory per open playground circuit during a
// stream, render batches per second in the browser, main-thread long tasks on a 2,000-token answer, and how long
// Stop takes to close the upstream connection. Drives the real app (its build output) with the Chromium that
// Microsoft.Playwright's bundled driver launches; the upstream is a loopback server speaking OpenAI's SSE format.
//
//   dotnet build src/Keystone.Web && node scripts/bench-playground.mjs [pages=10] [tokens=2000] [tokensPerSecond=400]
import { createServer } from 'node:http';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir, homedir } from 'node:os';
import { join, dirname } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const [pages = 10, tokens = 2000, tps = 400] = process.argv.slice(2).map(Number);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { chromium } = require(join(homedir(), '.nuget/packages/microsoft.playwright/1.64.1/.playwright/package'));
const password = 'Bench-demo-password-1';
const sleep = ms => new Promise(r => setTimeout(r, ms));

// Loopback upstream: `tokens` chunks at `tps`; records when each stream's connection closed early (Stop).
const closes = [];
const upstream = createServer((req, res) => {
  let body = '';
  req.on('data', d => (body += d));
  req.on('end', async () => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let done = false;
    res.on('close', () => { if (!done) closes.push(performance.now()); });
    const chunk = (delta, extra = {}) => `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', model: 'bench-2k',
      choices: [{ index: 0, delta, finish_reason: null }], ...extra })}\n\n`;
    res.write(chunk({ role: 'assistant', content: '' }));
    const words = ['The ', 'gateway ', 'streams ', '**tokens** ', 'and ', 'the ', 'page ', 'renders ', 'them ', 'in ', 'batches. '];
    for (let i = 0; i < tokens && !res.destroyed; i++) {
      res.write(chunk({ content: (i % 80 === 79 ? '\n\n' : '') + (i % 400 === 0 ? '\n\n```js\nconst x = 1;\n```\n\n' : '') + words[i % words.length] }));
      await sleep(1000 / tps);
    }
    if (!res.destroyed) {
      res.write(`data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', model: 'bench-2k', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`);
      res.write(`data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', model: 'bench-2k', choices: [], usage: { prompt_tokens: 20, completion_tokens: tokens } })}\n\n`);
      res.end('data: [DONE]\n\n');
      done = true;
    }
  });
});
await new Promise(r => upstream.listen(0, '127.0.0.1', r));
const upstreamUrl = `http://127.0.0.1:${upstream.address().port}/v1/`;

const port = 5600 + Math.floor(Math.random() * 300);
const base = `http://127.0.0.1:${port}`;
const data = mkdtempSync(join(tmpdir(), 'ks-bench-'));
const app = spawn('dotnet', [join(root, 'src/Keystone.Web/bin/Debug/net10.0/Keystone.Web.dll'), '--urls', base], {
  cwd: join(root, 'src/Keystone.Web/bin/Debug/net10.0'),
  env: { ...process.env, ASPNETCORE_ENVIRONMENT: 'Production', Database__Provider: 'Sqlite', Database__SqlitePath: join(data, 'keystone.db'),
    Seed__Demo: 'true', Seed__DemoPassword: password, Logging__LogLevel__Default: 'Warning',
    Gateway__Providers__bench__Kind: 'OpenAI', Gateway__Providers__bench__BaseUrl: upstreamUrl, Gateway__Providers__bench__ApiKey: 'bench',
    Gateway__Providers__bench__Models__0: 'bench-2k', Gateway__Aliases__long__0: 'bench/bench-2k' },
  stdio: 'ignore',
});
const rssMb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${app.pid}/status`, 'utf8'))[1]) / 1024;
for (let i = 0; ; i++) {
  try { if ((await fetch(base + '/readyz')).ok) break; } catch { }
  if (i > 600) throw new Error('app not ready');
  await sleep(250);
}

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
async function openPlayground() {
  const context = await browser.newContext({ baseURL: base, viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  await page.goto('/Account/Login');
  await page.fill('#email', 'member@acme.demo');
  await page.fill('#password', password);
  await page.click('[data-test=sign-in]');
  await page.waitForURL(u => !u.toString().includes('/Account/Login'));
  await page.goto('/playground');
  await page.waitForSelector('[data-test=circuit][data-state=on]', { state: 'attached' });
  await page.waitForSelector('[data-test=composer]:not([disabled])');
  // Choose the long-answer alias.
  await page.click('[data-test=model-picker]');
  await page.getByText('long', { exact: false }).last().click();
  await page.evaluate(() => {
    window.__ks = { updates: 0, longTasks: [], first: 0, last: 0 };
    new PerformanceObserver(l => l.getEntries().forEach(e => window.__ks.longTasks.push(e.duration))).observe({ type: 'longtask', buffered: false });
    new MutationObserver(() => {
      if (document.querySelector('[data-test=answer][data-state=streaming] [data-test=markdown]')?.textContent.length) {
        const now = performance.now();
        window.__ks.first ||= now;
        window.__ks.last = now;
        window.__ks.updates++;
      }
    }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
  });
  return page;
}

await sleep(2000);
const baseRss = rssMb();
const opened = [];
for (let i = 0; i < pages; i++) opened.push(await openPlayground());
await sleep(2000);
const idleRss = rssMb();
const started = performance.now();
await Promise.all(opened.map(p => p.fill('[data-test=composer]', 'Write a long answer').then(() => p.press('[data-test=composer]', 'Enter'))));
await sleep(Math.min(3000, (tokens / tps) * 500));
const streamingRss = rssMb();
await Promise.all(opened.map(p => p.waitForSelector('[data-test=answer][data-state=complete]', { timeout: 180000 })));
const elapsed = (performance.now() - started) / 1000;
const stats = await Promise.all(opened.map(p => p.evaluate(() => window.__ks)));

// Stop latency: one more stream, stopped after a second; time until the upstream saw its connection close.
const stopPage = opened[0];
await stopPage.fill('[data-test=composer]', 'Another long answer');
await stopPage.press('[data-test=composer]', 'Enter');
await stopPage.waitForSelector('[data-test=answer][data-state=streaming] [data-test=markdown] p');
await sleep(1000);
const closesBefore = closes.length;
const clicked = performance.now();
await stopPage.keyboard.press('Escape');
await stopPage.waitForSelector('[data-test=stopped-marker]');
const marked = performance.now();
for (let i = 0; i < 100 && closes.length === closesBefore; i++) await sleep(10);

const rates = stats.map(s => s.updates / ((s.last - s.first) / 1000));
const longTasks = stats.flatMap(s => s.longTasks);
console.log(JSON.stringify({
  pages, tokens, tokensPerSecond: tps, wallSeconds: +elapsed.toFixed(1),
  serverRssMb: { beforePages: +baseRss.toFixed(1), idleWithPagesOpen: +idleRss.toFixed(1), duringStreams: +streamingRss.toFixed(1) },
  serverMbPerOpenCircuit: +((idleRss - baseRss) / pages).toFixed(2),
  serverMbPerStreamingCircuit: +((streamingRss - baseRss) / pages).toFixed(2),
  renderBatchesPerSecond: { min: +Math.min(...rates).toFixed(1), max: +Math.max(...rates).toFixed(1) },
  browserLongTasks: { count: longTasks.length, maxMs: longTasks.length ? Math.max(...longTasks) : 0 },
  stop: { clickToMarkerMs: Math.round(marked - clicked), clickToUpstreamCloseMs: closes.length > closesBefore ? Math.round(closes.at(-1) - clicked) : null },
}, null, 2));
await browser.close();
app.kill('SIGTERM');
upstream.close();
process.exit(0);
