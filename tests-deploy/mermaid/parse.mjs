// Parses every ```mermaid block of the Markdown files given, with mermaid's own
// parser in a jsdom window (no browser). Exit 1 when any block fails.
// Run through tests-deploy/check-mermaid.sh, which installs mermaid and jsdom.
import { JSDOM } from 'jsdom';
import fs from 'fs';
const dom = new JSDOM('<!doctype html><html><body></body></html>');
globalThis.window = dom.window; globalThis.document = dom.window.document;
try { globalThis.navigator = dom.window.navigator; } catch (e) {}
globalThis.DOMParser = dom.window.DOMParser;
const mermaid = (await import('mermaid')).default;
mermaid.initialize({ startOnLoad: false });
let bad = 0;
let total = 0;
for (const file of process.argv.slice(2)) {
  const text = fs.readFileSync(file, 'utf8');
  const blocks = [...text.matchAll(/```mermaid\r?\n([\s\S]*?)```/g)].map(m => m[1]);
  for (const [i, b] of blocks.entries()) {
    total++;
    try { await mermaid.parse(b); }
    catch (e) { bad++; console.log(`FAIL ${file}: diagram ${i + 1}: ${e.message.split('\n').slice(0, 4).join(' | ')}`); }
  }
}
console.log(`${bad ? 'FAIL' : 'ok'}: ${total - bad} of ${total} Mermaid diagrams parse`);
process.exit(bad ? 1 : 0);
