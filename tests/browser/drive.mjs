// Browser-test harness: drives Debian's headless Chromium (through
// playwright-core) over a list of pages described in a JSON spec, so that a
// web UI is tested as a person would see it, at a desktop and a phone width.
//
// Usage: node tests/browser/drive.mjs SPEC.json   (run install.sh first)
//
// SPEC.json: {"base": "http://127.0.0.1:PORT", "token": "optional bearer token",
//   "shots": "dir for screenshots", "pages": [{"name": "n", "path": "/p",
//   "print": optional true, "checks": [CHECK, ...]}]}
// A CHECK is one of (CSS selectors; text is innerText, case-sensitive):
//   {"selector": S, "count": N} | {"selector": S, "minCount": N}
//   {"selector": S, "text": T}     the first match contains T
//   {"selector": S, "allText": T}  every match contains T (no match = fail)
//   {"selector": S, "noneText": T} no match contains T (no match = pass)
//   {"selector": S, "attr": A, "equals": V}  on the first match
//   {"order": S, "attr": A}  A's values over all matches are non-decreasing
//                            as strings (no match = fail)
//   {"click": S, "thenPath": P}  click the first match, wait for the new page,
//                            its pathname+search must start with P; then back
//
// For each page, at 1280x900 and 390x844: load it (HTTP status >= 400 or a
// navigation error fails), run the checks, fail on any console error or
// warning or uncaught page error, fail on horizontal overflow at the phone
// width (naming the element that sticks out furthest), save a full-page
// screenshot to SHOTS/NAME-desktop.png and NAME-phone.png, and run axe-core
// (WCAG 2.0/2.1 A and AA); any violation fails. With "print": true, the
// desktop pass also renders print media to SHOTS/NAME-print.pdf.
// Prints one line per page and viewport ("ok ..." or "FAIL ..." with reasons
// indented under it) and a closing "drive: N passed, N failed" line. Exits 0
// only if everything passed. Chromium's own stderr is not read, so its noise
// (dbus and the like) never counts as a page error.

import { chromium } from 'playwright-core';
import { readFileSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const AXE = join(HERE, 'node_modules', 'axe-core', 'axe.min.js');
const NAV_TIMEOUT = 15_000;
const RUN_TIMEOUT = 180_000;
const VIEWPORTS = [
  { label: 'desktop', width: 1280, height: 900 },
  { label: 'phone', width: 390, height: 844 },
];
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

let browser = null;
let where = 'starting';

function bail(msg) {
  console.log(`FAIL drive: ${msg}`);
  process.exit(1);
}

// One line per reason, kept short so output stays readable in CI logs.
const short = (s, n = 300) => {
  s = String(s).replace(/\s+/g, ' ').trim();
  return s.length > n ? s.slice(0, n) + '...' : s;
};

// The whole run is bounded: past RUN_TIMEOUT, say where it was and give up.
// process.exit is immediate, so nothing else gets printed after this line;
// playwright-core kills the Chromium it launched when the process exits.
const watchdog = setTimeout(() => {
  console.log(`FAIL drive: gave up after ${RUN_TIMEOUT / 1000} s (at ${where})`);
  process.exit(1);
}, RUN_TIMEOUT);

function loadSpec(path) {
  if (!path) bail('usage: node tests/browser/drive.mjs SPEC.json');
  let spec;
  try { spec = JSON.parse(readFileSync(path, 'utf8')); } catch (e) { bail(`cannot read spec ${path}: ${short(e.message)}`); }
  if (typeof spec.base !== 'string' || !/^https?:\/\//.test(spec.base)) bail('spec.base must be an http(s) URL');
  if (typeof spec.shots !== 'string' || !spec.shots) bail('spec.shots must name a directory');
  if (!Array.isArray(spec.pages) || spec.pages.length === 0) bail('spec.pages must be a non-empty array');
  for (const p of spec.pages) {
    if (typeof p.name !== 'string' || !/^[\w.-]+$/.test(p.name)) bail(`page name ${JSON.stringify(p.name)} must be [A-Za-z0-9_.-]+`);
    if (typeof p.path !== 'string' || !p.path.startsWith('/')) bail(`page ${p.name}: path must start with /`);
    if (p.checks !== undefined && !Array.isArray(p.checks)) bail(`page ${p.name}: checks must be an array`);
  }
  return spec;
}

// Runs in the page: data about every element matching a CSS selector.
async function matches(page, sel, what, attr) {
  return page.evaluate(([sel, what, attr]) => {
    const els = [...document.querySelectorAll(sel)];
    if (what === 'count') return els.length;
    if (what === 'text') return els.map(e => e.innerText);
    return els.map(e => e.getAttribute(attr));
  }, [sel, what, attr ?? null]);
}

// Returns null if the check passed, else a one-line reason.
async function runCheck(page, c, st) {
  const q = JSON.stringify;
  if ('click' in c) {
    if (typeof c.thenPath !== 'string') return `click ${q(c.click)}: thenPath missing`;
    const before = page.url();
    st.navStatus = null;
    try {
      await Promise.all([
        page.waitForEvent('framenavigated', { predicate: f => f === page.mainFrame(), timeout: NAV_TIMEOUT }),
        page.locator(`css=${c.click}`).first().click({ timeout: NAV_TIMEOUT }),
      ]);
      await page.waitForLoadState('load', { timeout: NAV_TIMEOUT });
    } catch (e) {
      return `click ${q(c.click)}: no navigation: ${short(e.message.split('\n')[0], 200)}`;
    }
    const u = new URL(page.url());
    const got = u.pathname + u.search;
    let reason = null;
    if (st.navStatus !== null && st.navStatus >= 400) reason = `click ${q(c.click)}: ${got} answered HTTP ${st.navStatus}`;
    else if (!got.startsWith(c.thenPath)) reason = `click ${q(c.click)}: went to ${q(got)}, expected it to start with ${q(c.thenPath)}`;
    // Go back so later checks see the page under test again.
    try {
      await page.goBack({ timeout: NAV_TIMEOUT, waitUntil: 'load' });
      if (page.url() !== before) await page.goto(before, { timeout: NAV_TIMEOUT, waitUntil: 'load' });
    } catch (e) {
      return reason ?? `click ${q(c.click)}: could not go back: ${short(e.message.split('\n')[0], 200)}`;
    }
    return reason;
  }
  if ('order' in c) {
    if (typeof c.attr !== 'string') return `order ${q(c.order)}: attr missing`;
    const v = await matches(page, c.order, 'attr', c.attr);
    if (v.length === 0) return `order ${q(c.order)}: no element matches`;
    const missing = v.indexOf(null);
    if (missing >= 0) return `order ${q(c.order)}: match #${missing + 1} has no ${c.attr} attribute`;
    for (let i = 1; i < v.length; i++)
      if (v[i - 1] > v[i]) return `order ${q(c.order)} by ${c.attr}: #${i} ${q(v[i - 1])} comes before #${i + 1} ${q(v[i])}`;
    return null;
  }
  if (!('selector' in c)) return `unknown check ${short(q(c), 120)}`;
  const s = c.selector;
  if ('count' in c || 'minCount' in c) {
    const n = await matches(page, s, 'count');
    if ('count' in c && n !== c.count) return `${q(s)}: ${n} matches, expected ${c.count}`;
    if ('minCount' in c && n < c.minCount) return `${q(s)}: ${n} matches, expected at least ${c.minCount}`;
    return null;
  }
  if ('text' in c || 'allText' in c || 'noneText' in c) {
    const t = await matches(page, s, 'text');
    if ('text' in c) {
      if (t.length === 0) return `${q(s)}: no element matches (wanted text ${q(c.text)})`;
      if (!t[0].includes(c.text)) return `${q(s)}: text ${q(short(t[0], 120))} lacks ${q(c.text)}`;
    }
    if ('allText' in c) {
      if (t.length === 0) return `${q(s)}: no element matches (wanted allText ${q(c.allText)})`;
      const i = t.findIndex(x => !x.includes(c.allText));
      if (i >= 0) return `${q(s)}: match #${i + 1} of ${t.length} (${q(short(t[i], 120))}) lacks ${q(c.allText)}`;
    }
    if ('noneText' in c) {
      const i = t.findIndex(x => x.includes(c.noneText));
      if (i >= 0) return `${q(s)}: match #${i + 1} of ${t.length} contains ${q(c.noneText)}`;
    }
    return null;
  }
  if ('attr' in c) {
    const v = await matches(page, s, 'attr', c.attr);
    if (v.length === 0) return `${q(s)}: no element matches (wanted ${c.attr}=${q(c.equals)})`;
    if (v[0] !== String(c.equals)) return `${q(s)}: ${c.attr} is ${q(v[0])}, expected ${q(String(c.equals))}`;
    return null;
  }
  return `unknown check ${short(q(c), 120)}`;
}

// Runs in the page: if it is wider than the window, describe the element
// whose right edge sticks out furthest (the deepest one on a tie, which is
// usually the culprit rather than its containers).
function overflowProbe() {
  const doc = document.documentElement;
  if (doc.scrollWidth <= window.innerWidth + 1) return null;
  let worst = null, right = -Infinity;
  for (const el of document.body ? document.body.querySelectorAll('*') : []) {
    const r = el.getBoundingClientRect().right + window.scrollX;
    if (r >= right) { right = r; worst = el; }
  }
  let name = 'html';
  if (worst) {
    name = worst.tagName.toLowerCase() + (worst.id ? '#' + worst.id : '');
    for (const k of worst.classList) name += '.' + k;
    const w = Math.round(worst.getBoundingClientRect().width);
    name += ` (${w}px wide, right edge at ${Math.round(right)}px)`;
  }
  return `page is ${doc.scrollWidth}px wide in a ${window.innerWidth}px window; widest: ${name}`;
}

async function runAxe(page) {
  // Inject as the brief asks; a page whose Content-Security-Policy forbids
  // inline scripts blocks that, so then evaluate the source over the
  // DevTools protocol, which CSP does not govern.
  try { await page.addScriptTag({ path: AXE }); } catch {}
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
    await page.evaluate(readFileSync(AXE, 'utf8'));
  }
  return page.evaluate(async (tags) => {
    const r = await window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    return r.violations.map(v => ({
      id: v.id, impact: v.impact, help: v.help,
      targets: v.nodes.slice(0, 3).map(n => n.target.join(' ')),
      more: Math.max(0, v.nodes.length - 3),
    }));
  }, AXE_TAGS);
}

async function runOne(spec, pg, vp) {
  const reasons = [];
  const ctx = await browser.newContext({
    viewport: { width: vp.width, height: vp.height },
    deviceScaleFactor: 1,
    extraHTTPHeaders: spec.token ? { Authorization: `Bearer ${spec.token}` } : {},
  });
  const page = await ctx.newPage();
  page.setDefaultTimeout(NAV_TIMEOUT);
  page.setDefaultNavigationTimeout(NAV_TIMEOUT);
  const st = { console: [], collect: true, navStatus: null };
  page.on('console', m => {
    if (!st.collect || (m.type() !== 'error' && m.type() !== 'warning')) return;
    const loc = m.location();
    // Chromium asks for /favicon.ico by itself, and only in the first context
    // of a run, so a missing one would fail whichever page came first: skip.
    if (loc && loc.url === `${spec.base}/favicon.ico`) return;
    const at = loc && loc.url ? ` (${loc.url.replace(spec.base, '')}:${loc.lineNumber})` : '';
    st.console.push(`console ${m.type()}: ${short(m.text(), 240)}${at}`);
  });
  page.on('pageerror', e => {
    if (st.collect) st.console.push(`uncaught error: ${short(e.message, 240)}`);
  });
  page.on('response', r => {
    if (r.request().isNavigationRequest() && r.frame() === page.mainFrame()) st.navStatus = r.status();
  });
  const checks = pg.checks ?? [];
  let axeNote = 'axe not run';
  try {
    where = `${pg.name} ${vp.label}: loading`;
    let resp;
    try {
      resp = await page.goto(new URL(pg.path, spec.base).href, { timeout: NAV_TIMEOUT, waitUntil: 'load' });
    } catch (e) {
      reasons.push(`navigation failed: ${short(e.message.split('\n')[0], 240)}`);
      return { reasons, n: checks.length, axeNote };
    }
    if (resp && resp.status() >= 400) {
      reasons.push(`HTTP ${resp.status()} for ${pg.path}`);
      return { reasons, n: checks.length, axeNote };
    }
    for (const [i, c] of checks.entries()) {
      where = `${pg.name} ${vp.label}: check #${i + 1}`;
      let r;
      try { r = await runCheck(page, c, st); } catch (e) { r = `check #${i + 1} ${short(JSON.stringify(c), 120)}: ${short(e.message.split('\n')[0], 200)}`; }
      if (r) reasons.push(r);
    }
    if (vp.label === 'phone') {
      where = `${pg.name} ${vp.label}: overflow`;
      const o = await page.evaluate(overflowProbe);
      if (o) reasons.push(`horizontal overflow: ${o}`);
    }
    where = `${pg.name} ${vp.label}: screenshot`;
    await page.screenshot({ path: join(spec.shots, `${pg.name}-${vp.label}.png`), fullPage: true, timeout: NAV_TIMEOUT });
    if (pg.print && vp.label === 'desktop') {
      where = `${pg.name} print`;
      const pdf = join(spec.shots, `${pg.name}-print.pdf`);
      try {
        await page.emulateMedia({ media: 'print' });
        await page.pdf({ path: pdf, printBackground: true });
        await page.emulateMedia({ media: null });
        if (statSync(pdf).size === 0) reasons.push(`print: ${pdf} is empty`);
      } catch (e) {
        reasons.push(`print: ${short(e.message.split('\n')[0], 200)}`);
      }
    }
    // From here on the harness itself touches the page; what the console
    // says about that is not the page's fault.
    st.collect = false;
    where = `${pg.name} ${vp.label}: axe`;
    try {
      const v = await runAxe(page);
      axeNote = v.length === 0 ? 'axe clean' : `${v.length} axe violation${v.length > 1 ? 's' : ''}`;
      for (const x of v)
        reasons.push(`axe ${x.id} (${x.impact}): ${x.help}: ${x.targets.join(', ')}${x.more ? ` (+${x.more} more)` : ''}`);
    } catch (e) {
      reasons.push(`axe could not run: ${short(e.message.split('\n')[0], 200)}`);
    }
  } finally {
    reasons.unshift(...st.console);
    await ctx.close().catch(() => {});
  }
  return { reasons, n: checks.length, axeNote };
}

async function main() {
  const spec = loadSpec(process.argv[2]);
  spec.base = spec.base.replace(/\/+$/, '');
  spec.shots = resolve(spec.shots);
  try { mkdirSync(spec.shots, { recursive: true }); } catch (e) { bail(`cannot create ${spec.shots}: ${short(e.message)}`); }
  try { statSync(AXE); } catch { bail(`${AXE} is missing; run tests/browser/install.sh`); }
  try {
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu'],
      timeout: 30_000,
    });
  } catch (e) {
    bail(`cannot start /usr/bin/chromium (run tests/browser/install.sh): ${short(e.message.split('\n')[0], 200)}`);
  }
  let passed = 0, failed = 0;
  for (const pg of spec.pages) {
    for (const vp of VIEWPORTS) {
      const { reasons, n, axeNote } = await runOne(spec, pg, vp);
      const head = `${pg.name} ${vp.label} (${n} check${n === 1 ? '' : 's'}, ${axeNote}${pg.print && vp.label === 'desktop' ? ', pdf' : ''})`;
      if (reasons.length === 0) { passed++; console.log(`ok ${head}`); }
      else { failed++; console.log(`FAIL ${head}`); for (const r of reasons) console.log(`  - ${r}`); }
    }
  }
  await browser.close().catch(() => {});
  clearTimeout(watchdog);
  console.log(`drive: ${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

main().catch(e => bail(`internal error: ${short(e.stack || e.message, 600)}`));
