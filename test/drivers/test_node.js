#!/usr/bin/env node
// scor through node-postgres (pg from the npm registry, pinned by
// package-lock.json), as a Node.js service or dashboard backend would use it.
//
// Text results, over the simple protocol and the extended protocol (bind
// parameters): federated totals, the views a BI tool lists through
// information_schema and their rows, a ciphertext round trip in its text
// form, and the SQLSTATEs of a peer that is down (08001) and of a refused
// query (SC005).
//
// Binary: a ciphertext sent as a Buffer goes out as a binary parameter
// (format 1) and is read by scor's ciphertext_recv (decrypts to 42; a wrong
// length fails with 22P03, which only the binary input function raises).
// Binary results ({ text, values, binary: true }) are checked too.  pg up to
// at least 8.23.1 decodes binary result fields through UTF-8, which corrupts
// any byte >= 0x80 (node-postgres issue #3495: SELECT 200::int4 comes back
// as 239).  While binary results are read, this test makes the protocol
// reader hand over the field's bytes as a Buffer, as the upstream fix (pull
// request #3496) does; a probe shows whether the driver needs it.
//
// Run by run.sh, which exports SCOR_DRV_HOST, _PORT, _USER, _PASSWORD and
// _TRUTH.  Prints "node: N passed, N failed" and exits non-zero on failure.
'use strict'

const fs = require('fs')
const pg = require('pg')

let passed = 0
let failed = 0
let skipped = 0

async function check(name, fn) {
  try {
    await fn()
    passed++
    console.log(`ok - ${name}`)
  } catch (e) {
    failed++
    console.log(`not ok - ${name}: ${e && e.message}`)
    if (process.env.SCOR_DRV_VERBOSE) console.log(e)
  }
}

// A check this machine cannot run.  In CI (SCOR_DRV_STRICT=1, set by run.sh)
// a missing capability is a failure, not a skip.
function skip(name, why) {
  if (process.env.SCOR_DRV_STRICT === '1') {
    failed++
    console.log(`not ok - ${name}: ${why} (in CI a check that cannot run fails)`)
    return
  }
  skipped++
  console.log(`skip - ${name}: ${why}`)
}

function assertEq(got, want, what) {
  const g = JSON.stringify(got)
  const w = JSON.stringify(want)
  if (g !== w) throw new Error(`${what}: got ${g}, want ${w}`)
}

function assert(cond, what) {
  if (!cond) throw new Error(what)
}

async function expectSqlstate(run, code, contains) {
  try {
    await run()
  } catch (e) {
    assertEq(e.code, code, `SQLSTATE of "${e.message}"`)
    if (contains) assert(e.message.includes(contains), `message "${e.message}" lacks ${contains}`)
    return
  }
  throw new Error(`no error, expected SQLSTATE ${code}`)
}

// The plaintext truth: "total n los" and "group band n los" lines
function loadTruth() {
  const truth = { total: null, groups: {} }
  for (const line of fs.readFileSync(process.env.SCOR_DRV_TRUTH, 'utf8').split('\n')) {
    const w = line.trim().split(/\s+/)
    if (w[0] === 'total') truth.total = [w[1], w[2]]
    else if (w[0] === 'group') truth.groups[w[1]] = [w[2], w[3]]
  }
  assert(truth.total && Object.keys(truth.groups).length > 0, 'empty truth file')
  return truth
}

const TRUTH = loadTruth()
const TOTALS_QUERY = 'SELECT enc_count(*), enc_sum(los) FROM admissions WHERE covid'
const FEDERATE_TOTALS = 'SELECT n, los FROM scor.federate($1) AS t(n bigint, los bigint)'
const REFUSED = "SELECT * FROM scor.federate('SELECT count(*) FROM admissions') AS t(n bigint)"
const WIRE_BYTES = 74 // version, scale, key fingerprint (8), C1 (32), C2 (32)
const TEXT_CHARS = 99 // unpadded base64url of the wire form

function connect(database) {
  const c = new pg.Client({
    host: process.env.SCOR_DRV_HOST,
    port: Number(process.env.SCOR_DRV_PORT),
    user: process.env.SCOR_DRV_USER,
    password: process.env.SCOR_DRV_PASSWORD,
    database,
  })
  return c.connect().then(() => c)
}

function groupsOf(rows) {
  const groups = {}
  for (const r of rows) groups[r.age_band] = [String(r.n), String(r.los)]
  return groups
}

function sortedKeys(o) {
  return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]))
}

function checkTextCiphertext(text) {
  assertEq(typeof text, 'string', 'type of the text ciphertext')
  assertEq(text.length, TEXT_CHARS, 'text ciphertext length')
  assert(/^[A-Za-z0-9_-]+$/.test(text), `not base64url: ${text}`)
  const raw = Buffer.from(text, 'base64url')
  assertEq([raw.length, raw[0], raw[1]], [WIRE_BYTES, 1, 0], 'decoded length, version, scale')
  return raw
}

async function main() {
  const a = await connect('site_a')
  const solo = await connect('site_solo')
  const d = await connect('site_d')
  const pre = `pg ${require('pg/package.json').version}`

  // ------------------------------------------------------------ text results
  await check(`${pre} text: federated totals equal the truth (query as a bind parameter)`, async () => {
    const r = await a.query(FEDERATE_TOTALS, [TOTALS_QUERY])
    assertEq(r.fields.map((f) => [f.dataTypeID, f.format]), [[20, 'text'], [20, 'text']], 'fields')
    assertEq(r.rows.map((x) => [String(x.n), String(x.los)]), [TRUTH.total], 'federated (n, los)')
  })

  await check(`${pre} text: the views are listed by information_schema`, async () => {
    const t = await a.query(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'VIEW' ORDER BY 1")
    const names = t.rows.map((x) => x.table_name)
    assert(names.includes('covid_summary') && names.includes('covid_totals'), `listed: ${names}`)
    const c = await a.query(
      `SELECT column_name, data_type FROM information_schema.columns
       WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position`, ['covid_summary'])
    assertEq(c.rows.map((x) => [x.column_name, x.data_type]),
      [['age_band', 'text'], ['n', 'bigint'], ['los', 'bigint']], 'covid_summary columns')
  })

  await check(`${pre} text: SELECT from the views gives the truth`, async () => {
    const s = await a.query('SELECT age_band, n, los FROM covid_summary')
    assertEq(sortedKeys(groupsOf(s.rows)), sortedKeys(TRUTH.groups), 'covid_summary')
    const t = await a.query('SELECT n, los FROM covid_totals')
    assertEq(t.rows.map((x) => [x.n, x.los]), [TRUTH.total], 'covid_totals')
  })

  await check(`${pre} text: a ciphertext round-trips in its text form`, async () => {
    const r = await solo.query('SELECT scor.encrypt(42) AS c')
    const text = r.rows[0].c
    checkTextCiphertext(text)
    const back = await solo.query('SELECT scor.decrypt($1) AS m', [text])
    assertEq(back.rows[0].m, '42', 'decrypt(text ciphertext)')
    await expectSqlstate(() => solo.query('SELECT scor.decrypt($1)', [text.slice(0, -1)]), '22P02')
  })

  await check(`${pre} text: a peer that is down raises SQLSTATE 08001 naming it`, async () => {
    await expectSqlstate(() => d.query('SELECT * FROM down_summary'), '08001', 'site "site_a"')
  })

  await check(`${pre} text: a refused query raises SQLSTATE SC005`, async () => {
    await expectSqlstate(() => a.query(REFUSED), 'SC005')
    // and the session goes on
    const t = await a.query('SELECT n FROM covid_totals')
    assertEq(t.rows[0].n, TRUTH.total[0], 'n after the error')
  })

  // ------------------------------------------------------- binary parameters
  await check(`${pre} binary parameters: a ciphertext sent as a Buffer is read by ciphertext_recv`, async () => {
    const r = await solo.query('SELECT scor.encrypt(42) AS c')
    const raw = checkTextCiphertext(r.rows[0].c)
    // a Buffer value is bound in the binary format; $1's type is inferred
    const back = await solo.query('SELECT scor.decrypt($1) AS m', [raw])
    assertEq(back.rows[0].m, '42', 'decrypt(binary ciphertext)')
    await expectSqlstate(() => solo.query('SELECT scor.decrypt($1)', [raw.subarray(0, WIRE_BYTES - 1)]), '22P03')
    const sum = await solo.query(
      'SELECT scor.decrypt($1::scor.ciphertext + $2::scor.ciphertext) AS m', [raw, raw])
    assertEq(sum.rows[0].m, '84', 'decrypt(sum of binary ciphertexts)')
  })

  // ---------------------------------------------------------- binary results
  const unpatched = await a.query({ text: 'SELECT $1::int4 AS v', values: [200], binary: true })
  assertEq(unpatched.fields[0].format, 'binary', 'format of a binary: true result')
  const driverBug = unpatched.rows[0].v !== 200
  // Only the fields of a DataRow (message code 68) become Buffers: the other
  // messages (an ErrorResponse's field codes, for one) must stay strings.
  const { BufferReader } = require('pg-protocol/dist/buffer-reader')
  const { Parser } = require('pg-protocol/dist/parser')
  const readString = BufferReader.prototype.string
  const handlePacket = Parser.prototype.handlePacket
  let rawFields = false
  let inDataRow = false
  Parser.prototype.handlePacket = function (offset, code, length, bytes) {
    inDataRow = rawFields && code === 68
    try {
      return handlePacket.call(this, offset, code, length, bytes)
    } finally {
      inDataRow = false
    }
  }
  BufferReader.prototype.string = function (length) {
    if (!inDataRow) return readString.call(this, length)
    const bytes = Buffer.from(this.buffer.subarray(this.offset, this.offset + length))
    this.offset += length
    return bytes
  }
  const bin = async (client, text, values) => {
    rawFields = driverBug
    try {
      return await client.query({ text, values, binary: true })
    } finally {
      rawFields = false
    }
  }
  const probe = await bin(a, 'SELECT $1::int4 AS v', [200])
  const binaryResults = probe.rows[0].v === 200
  console.log(`# pg ${driverBug ? 'needs' : 'does not need'} the binary-field fix of pull request #3496`)
  const binaryChecks = [
    'federated totals equal the truth',
    'SELECT from the views gives the truth',
    'a peer that is down raises SQLSTATE 08001; a refused query SC005',
    'a ciphertext round-trips in its binary form',
  ]
  if (!binaryResults) {
    for (const name of binaryChecks) {
      skip(`${pre} binary results: ${name}`,
        `binary result fields are corrupted even with the fix (SELECT 200::int4 gave ${JSON.stringify(probe.rows[0].v)})`)
    }
  } else {
    await check(`${pre} binary results: ${binaryChecks[0]}`, async () => {
      const r = await bin(a, FEDERATE_TOTALS, [TOTALS_QUERY])
      assertEq(r.fields.map((f) => f.format), ['binary', 'binary'], 'formats')
      assertEq(r.rows.map((x) => [String(x.n), String(x.los)]), [TRUTH.total], 'federated (n, los)')
    })
    await check(`${pre} binary results: ${binaryChecks[1]}`, async () => {
      // a bind parameter, so that the extended protocol (and so binary) is used
      const s = await bin(a, 'SELECT age_band, n, los FROM covid_summary WHERE $1', [true])
      assertEq(s.fields.map((f) => f.format), ['binary', 'binary', 'binary'], 'formats')
      assertEq(sortedKeys(groupsOf(s.rows)), sortedKeys(TRUTH.groups), 'covid_summary')
    })
    await check(`${pre} binary results: ${binaryChecks[2]}`, async () => {
      await expectSqlstate(() => bin(d, 'SELECT * FROM down_summary WHERE $1', [true]), '08001', 'site "site_a"')
      await expectSqlstate(() => bin(a, `${REFUSED} WHERE $1`, [true]), 'SC005')
    })
    await check(`${pre} binary results: ${binaryChecks[3]}`, async () => {
      // an unknown type's binary value as the Buffer it is (pg-types would make it a String)
      const oid = (await solo.query("SELECT 'scor.ciphertext'::regtype::oid AS oid")).rows[0].oid
      solo.setTypeParser(Number(oid), 'binary', (buf) => buf)
      const r = await bin(solo, 'SELECT c, c::text AS t FROM (SELECT scor.encrypt($1) AS c OFFSET 0) s', [42])
      const { c, t } = r.rows[0]
      assert(Buffer.isBuffer(c), `binary ciphertext is not a Buffer: ${typeof c}`)
      assertEq(c.length, WIRE_BYTES, 'binary ciphertext length')
      assertEq(c.toString('base64url'), t, 'binary form, base64url-encoded')
      const back = await solo.query('SELECT scor.decrypt($1) AS m', [c])
      assertEq(back.rows[0].m, '42', 'decrypt(binary ciphertext)')
    })
  }

  await Promise.all([a.end(), solo.end(), d.end()])
}

main()
  .catch((e) => {
    failed++
    console.log(`not ok - node-postgres runs: ${e && e.stack}`)
  })
  .finally(() => {
    console.log(`node: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
    process.exitCode = failed === 0 && passed > 0 ? 0 : 1
  })
