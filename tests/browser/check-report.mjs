// Opens an offline HTML report (assay-runner's report page) in the system Chromium and checks
// it as a reader would: no console error or warning, no page error, no dialog, no request for
// anything but the file itself, the summary readable without JavaScript, the expected added
// entries explained, the process tree expanding, and the filter box narrowing the entries.
//
//   node check-report.mjs REPORT.html EXPECT.json SCREENSHOT.png
//
// EXPECT.json:
//   { "added": [{"proof": "demo", "entry": "tcp:evil.example:443",
//                "chain_contains": "/usr/bin/curl", "tool_call": "c1" | null}],
//     "process": "p0/sh#1" | null,
//     "filter": {"query": "evil", "visible_entries": 1,
//                "visible_processes": N (optional), "visible_tool_calls": N (optional)} | null }
//
// Chromium: $ASSAY_CHROMIUM, else /usr/bin/chromium (Debian's `chromium` package). playwright-core
// downloads no browser. Prints `browser: ok (N checks)` and exits 0, or one `browser: FAIL ...`
// line per failure and exits 1.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const [reportArg, expectArg, shotArg] = process.argv.slice(2);
if (!reportArg || !expectArg || !shotArg) {
  console.error('usage: node check-report.mjs REPORT.html EXPECT.json SCREENSHOT.png');
  process.exit(2);
}
const reportPath = resolve(reportArg);
const fileUrl = pathToFileURL(reportPath).href;
const expect = JSON.parse(readFileSync(expectArg, 'utf8'));
// The page's script runs by its hash, never by 'unsafe-inline' (which would let injected
// markup's event handlers run too).
const CSP = /^default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-[A-Za-z0-9+\/]{43}='; img-src data:$/;

const failures = [];
let checks = 0;
function check(ok, what) {
  checks++;
  if (!ok) failures.push(what);
  return ok;
}
// One check that a list is empty; each item is its own failure line.
function none(list, fmt) {
  if (!list.length) checks++;
  for (const x of list) check(false, fmt(x));
}
function sameFile(url) {
  try {
    const u = new URL(url);
    u.hash = '';
    return u.href === fileUrl;
  } catch {
    return false;
  }
}

// Everything the page does that a self-contained offline report must never do.
function watch(page, tag) {
  const seen = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') seen.push(`${tag}: console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => seen.push(`${tag}: page error: ${e.message}`));
  page.on('dialog', (d) => {
    seen.push(`${tag}: page opened a ${d.type()} dialog: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  page.on('request', (r) => {
    if (!sameFile(r.url())) seen.push(`${tag}: request for something other than the report: ${r.url()}`);
  });
  page.on('popup', (p) => seen.push(`${tag}: page opened a window: ${p.url()}`));
  return seen;
}

// References to anything outside the page (src, href, srcset, ...) in the rendered DOM.
function outsideRefs(page) {
  return page.evaluate(() => {
    const out = [];
    for (const e of document.querySelectorAll('*')) {
      for (const a of ['src', 'href', 'srcset', 'poster', 'action', 'formaction', 'data', 'background', 'ping', 'xlink:href']) {
        const v = e.getAttribute(a);
        if (v == null) continue;
        const t = v.trim();
        if (t.startsWith('#') || t.startsWith('data:')) continue;
        out.push(`<${e.tagName.toLowerCase()} ${a}="${v}">`);
      }
      if (['IFRAME', 'FRAME', 'OBJECT', 'EMBED', 'BASE'].includes(e.tagName)) out.push(`<${e.tagName.toLowerCase()}>`);
    }
    return out;
  });
}

// The <li.entry> of a proof's changes whose entry text is `entry`, as a handle (or null).
function summaryEntry(page, proof, entry, cls) {
  return page.evaluateHandle(({ proof, entry, cls }) => {
    const h2 = document.getElementById('proof-' + proof);
    const box = h2 ? h2.closest('.changes') || h2.parentElement : null;
    if (!box) return null;
    for (const li of box.querySelectorAll('li.entry')) {
      if (!li.classList.contains(cls)) continue;
      const ent = li.querySelector('.ent');
      if (ent && ent.textContent === entry) return li;
    }
    return null;
  }, { proof, entry, cls }).then((h) => h.asElement());
}

function procNode(page, label) {
  return page.evaluateHandle((label) => {
    for (const d of document.querySelectorAll('details.proc')) if (d.getAttribute('data-label') === label) return d;
    return null;
  }, label).then((h) => h.asElement());
}

const visibleEntries = (page) =>
  page.evaluate(() => [...document.querySelectorAll('#summary li.entry')].filter((e) => e.checkVisibility()).length);
const visibleCount = (page, sel) =>
  page.evaluate((sel) => [...document.querySelectorAll(sel)].filter((e) => e.checkVisibility()).length, sel);

const browser = await chromium.launch({
  executablePath: process.env.ASSAY_CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
try {
  // 1. With JavaScript, as a reader opens it.
  const ctx = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  await ctx.setOffline(true);
  const page = await ctx.newPage();
  page.setDefaultTimeout(10000);
  const seen = watch(page, 'js');
  try {
    await page.goto(fileUrl, { waitUntil: 'load' });
    await page.waitForTimeout(200); // late errors and requests

    const csp = await page.evaluate(() => {
      const m = document.querySelector('meta[http-equiv="Content-Security-Policy"]');
      return m ? m.getAttribute('content') : null;
    });
    check(typeof csp === 'string' && CSP.test(csp), `content security policy is ${JSON.stringify(csp)}, want ${CSP}`);
    none(await outsideRefs(page), (r) => `page refers to something outside itself: ${r}`);
    check(await page.locator('#summary').isVisible(), '#summary is not visible');

    const counts = await page.evaluate(() => {
      let proofs = null;
      try { proofs = JSON.parse(document.getElementById('assay-data').textContent).proofs.length; } catch {}
      return { proofs, sections: document.querySelectorAll('section.proof-detail').length };
    });
    check(counts.proofs !== null, 'the #assay-data element does not hold report JSON with a proofs list');
    if (counts.proofs !== null) {
      check(counts.sections === counts.proofs, `${counts.sections} section.proof-detail for ${counts.proofs} proofs`);
    }

    for (const a of expect.added || []) {
      const what = `added entry ${JSON.stringify(a.entry)} of proof ${JSON.stringify(a.proof)}`;
      const li = await summaryEntry(page, a.proof, a.entry, 'added');
      if (!check(li !== null, `${what} is not in the summary`)) continue;
      check(await li.isVisible(), `${what} is not visible`);
      const why = await li.evaluate((e) => (e.querySelector('.why') || {}).textContent || '');
      if (a.chain_contains != null) {
        check(why.includes(a.chain_contains), `${what}: its explanation ${JSON.stringify(why)} lacks ${JSON.stringify(a.chain_contains)}`);
      }
      if (a.tool_call != null) {
        check(why.includes(a.tool_call), `${what}: its explanation ${JSON.stringify(why)} lacks tool call ${JSON.stringify(a.tool_call)}`);
      }
      const detail = await page.evaluate((p) => !!document.getElementById('detail-' + p), a.proof);
      check(detail, `proof ${JSON.stringify(a.proof)} has no section#detail-${a.proof}`);
    }

    if (expect.process != null) {
      const label = String(expect.process);
      const node = await procNode(page, label);
      if (check(node !== null, `no process node data-label=${JSON.stringify(label)}`)) {
        const parentLabel = label.includes('/') ? label.slice(0, label.lastIndexOf('/')) : null;
        // open every ancestor above the parent, as a reader would click down to it
        const chain = [];
        for (let l = parentLabel; l && l.includes('/'); l = l.slice(0, l.lastIndexOf('/'))) chain.unshift(l.slice(0, l.lastIndexOf('/')));
        for (const l of chain) {
          const a = await procNode(page, l);
          if (a && !(await a.evaluate((d) => d.open))) await a.$eval(':scope > summary', (s) => s.click());
        }
        const parent = parentLabel ? await procNode(page, parentLabel) : null;
        if (parentLabel == null) {
          check(await node.isVisible(), `root process ${label} is not visible`);
        } else if (check(parent !== null, `no process node for the parent ${JSON.stringify(parentLabel)} of ${label}`)) {
          const summary = await parent.$(':scope > summary');
          if (await parent.evaluate((d) => d.open)) {
            await summary.click();
            check(!(await node.isVisible()), `${label} stays visible after its parent ${parentLabel} is collapsed`);
          }
          await summary.click();
          check(await parent.evaluate((d) => d.open), `clicking ${parentLabel} does not open it`);
          check(await node.isVisible(), `${label} is not visible after expanding ${parentLabel}`);
          const head = await node.$eval(':scope > summary', (s) => s.textContent);
          check(head.includes(label), `the node of ${label} shows ${JSON.stringify(head)}`);
        }
      }
    }

    if (expect.filter != null) {
      const f = expect.filter;
      const before = await visibleEntries(page);
      const total = await page.locator('#summary li.entry').count();
      check(before === total, `${before} of ${total} entries visible before filtering`);
      const input = page.locator('#filter');
      if (check(await input.isVisible(), 'the #filter box is not visible')) {
        await input.fill(String(f.query));
        const n = await visibleEntries(page);
        check(n === f.visible_entries, `filter ${JSON.stringify(f.query)}: ${n} entries visible, want ${f.visible_entries}`);
        if (f.visible_processes != null) {
          const p = await visibleCount(page, 'details.proc');
          check(p === f.visible_processes, `filter ${JSON.stringify(f.query)}: ${p} process nodes visible, want ${f.visible_processes}`);
        }
        if (f.visible_tool_calls != null) {
          const t = await visibleCount(page, 'li.tool-call');
          check(t === f.visible_tool_calls, `filter ${JSON.stringify(f.query)}: ${t} tool calls visible, want ${f.visible_tool_calls}`);
        }
        await input.fill('');
        const after = await visibleEntries(page);
        check(after === total, `clearing the filter shows ${after} of ${total} entries`);
      }
    }

    await page.screenshot({ path: shotArg, fullPage: true });
    checks++;
  } catch (e) {
    check(false, `js: ${e.message.split('\n')[0]}`);
  }
  await page.waitForTimeout(100);
  none(seen, (s) => s);
  await ctx.close();

  // 2. Without JavaScript: the summary alone must carry the verdict and the added entries. CSP is
  // bypassed here so that a reference the policy would block still shows up as a request.
  const bare = await browser.newContext({ javaScriptEnabled: false, bypassCSP: true });
  await bare.setOffline(true);
  const page2 = await bare.newPage();
  page2.setDefaultTimeout(10000);
  const seen2 = watch(page2, 'no-js');
  try {
    await page2.goto(fileUrl, { waitUntil: 'load' });
    await page2.waitForTimeout(200);
    check(await page2.locator('#summary').isVisible(), 'no-js: #summary is not visible');
    const text = await page2.locator('#summary').innerText().catch(() => '');
    check(text.includes('assay-runner'), 'no-js: the summary has no heading');
    for (const a of expect.added || []) {
      const li = await summaryEntry(page2, a.proof, a.entry, 'added');
      check(li !== null && (await li.isVisible()), `no-js: added entry ${JSON.stringify(a.entry)} of ${a.proof} is not shown`);
    }
  } catch (e) {
    check(false, `no-js: ${e.message.split('\n')[0]}`);
  }
  none(seen2, (s) => s);
  await bare.close();
} finally {
  await browser.close();
}

if (failures.length) {
  for (const f of failures) console.log(`browser: FAIL ${f}`);
  process.exit(1);
}
console.log(`browser: ok (${checks} checks)`);
