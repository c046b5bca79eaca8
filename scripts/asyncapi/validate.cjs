'use strict';
// node validate.cjs MODULES FILE: parse FILE with the official AsyncAPI parser (from the
// node_modules folder MODULES), print every diagnostic, and exit 1 if any is an error.
const fs = require('fs');
const path = require('path');

const SEVERITIES = ['error', 'warning', 'info', 'hint'];

function where(diagnostic) {
  const at = (diagnostic.path || []).join('/');
  const line = diagnostic.range ? diagnostic.range.start.line + 1 : undefined;
  return line === undefined ? `/${at}` : `/${at} (line ${line})`;
}

async function main() {
  const [modules, file] = process.argv.slice(2);
  if (!modules || !file) {
    console.error('usage: validate.cjs NODE_MODULES FILE');
    return 2;
  }
  const { Parser } = require(path.join(modules, '@asyncapi', 'parser'));
  const text = fs.readFileSync(file, 'utf8');
  const { document, diagnostics } = await new Parser().parse(text, { source: path.resolve(file) });
  const counts = [0, 0, 0, 0];
  for (const diagnostic of diagnostics) {
    counts[diagnostic.severity] += 1;
    const severity = SEVERITIES[diagnostic.severity] || String(diagnostic.severity);
    console.log(`${severity} ${diagnostic.code} ${where(diagnostic)}: ${diagnostic.message}`);
  }
  const summary = SEVERITIES.map((name, i) => `${counts[i]} ${name}s`).join(', ');
  const valid = counts[0] === 0 && document !== undefined;
  console.log(`${file}: ${valid ? 'valid' : 'NOT valid'} AsyncAPI (${summary})`);
  return valid ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error && error.stack ? error.stack : error);
    process.exit(2);
  },
);
