#!/usr/bin/env node
// word-freq: a command skill in Node.js (standard library only).
//
// Contract (skillexec DESIGN §3.2): the parameters arrive as one JSON object on stdin and the
// answer is one JSON value on stdout. The object may be the bare parameters or skillexec's
// input_data (parameters at the top level plus "parameters" and "config"); both work.
// A bad input is answered with the Py Copilot failure envelope (error_type parameter_error).
'use strict';

const STOP_WORDS = new Set((
  'a about above after again against all am an and any are as at be because been before ' +
  'being below between both but by can cannot could did do does doing down during each ' +
  'few for from further had has have having he her here hers herself him himself his how ' +
  'i if in into is it its itself just me more most my myself no nor not of off on once ' +
  'only or other our ours ourselves out over own same she should so some such than that ' +
  'the their theirs them themselves then there these they this those through to too under ' +
  'until up very was we were what when where which while who whom why will with would you ' +
  'your yours yourself yourselves also may might must shall us'
).split(' '));

// Letters and digits of any script, with inner apostrophes (don't, l'homme).
const WORD = /[\p{L}\p{N}]+(?:['\u2019][\p{L}\p{N}]+)*/gu;

class InputError extends Error {}

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

function intParam(params, name, dflt, min, max) {
  const v = params[name] === undefined || params[name] === null ? dflt : params[name];
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new InputError(`'${name}' must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function boolParam(params, name, dflt) {
  const v = params[name] === undefined || params[name] === null ? dflt : params[name];
  if (typeof v !== 'boolean') {
    throw new InputError(`'${name}' must be true or false, got ${JSON.stringify(v)}`);
  }
  return v;
}

function wordFreq(params) {
  if (typeof params.text !== 'string') {
    throw new InputError("'text' is required and must be a string");
  }
  const top = intParam(params, 'top', 10, 1, 1000);
  const minLength = intParam(params, 'min_length', 1, 1, 100);
  const caseSensitive = boolParam(params, 'case_sensitive', false);
  const ignoreStop = boolParam(params, 'ignore_stop_words', true);
  const extra = params.stop_words === undefined || params.stop_words === null ? [] : params.stop_words;
  if (!Array.isArray(extra) || !extra.every((w) => typeof w === 'string')) {
    throw new InputError("'stop_words' must be an array of strings");
  }
  const stop = new Set(extra.map((w) => w.toLowerCase()));
  if (ignoreStop) for (const w of STOP_WORDS) stop.add(w);

  const words = (params.text.normalize('NFC').match(WORD) || []).map((w) => w.replace(/\u2019/g, "'"));
  const counts = new Map();
  let counted = 0;
  for (const raw of words) {
    const word = caseSensitive ? raw : raw.toLowerCase();
    if ([...word].length < minLength || stop.has(word.toLowerCase()) || /^\p{N}+$/u.test(word)) continue;
    counted += 1;
    counts.set(word, (counts.get(word) || 0) + 1);
  }
  const ranked = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return {
    total_words: words.length,
    counted_words: counted,
    unique_words: counts.size,
    top: ranked.slice(0, top).map(([word, count]) => ({
      word,
      count,
      share: Math.round((count / counted) * 10000) / 10000,
    })),
  };
}

async function main() {
  const raw = await readStdin();
  let params;
  try {
    params = raw.trim() ? JSON.parse(raw) : {};
  } catch (err) {
    throw new InputError(`stdin is not valid JSON: ${err.message}`);
  }
  if (params === null || typeof params !== 'object' || Array.isArray(params)) {
    throw new InputError('stdin must hold a JSON object of parameters');
  }
  if (params.parameters && typeof params.parameters === 'object' && !Array.isArray(params.parameters)) {
    params = { ...params, ...params.parameters };
  }
  return wordFreq(params);
}

main().then(
  (result) => {
    process.stdout.write(JSON.stringify(result) + '\n');
  },
  (err) => {
    if (err instanceof InputError) {
      process.stdout.write(JSON.stringify({
        success: false,
        error: err.message,
        error_type: 'parameter_error',
        retryable: false,
      }) + '\n');
      return;
    }
    process.stderr.write(`word-freq: ${err && err.stack ? err.stack : err}\n`);
    process.exitCode = 1;
  },
);
