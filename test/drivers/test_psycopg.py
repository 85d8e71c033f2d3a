#!/usr/bin/env python3
"""scor through psycopg, as an analyst's Python program or notebook would use it.

psycopg2 (Debian's python3-psycopg2) has text results only: federated totals,
the views a BI tool lists (information_schema and pg_catalog) and their rows,
a ciphertext round trip in its text form, and SQLSTATEs of a peer that is down
(08001) and of a refused query (SC005).

psycopg 3 (Debian's python3-psycopg), when installed, runs the same checks
over the extended protocol, once with text and once with binary results
(cursor(binary=True)), plus the binary ciphertext round trip: the 74-byte
binary form fetched, checked against the text form, and sent back as a
binary parameter of type scor.ciphertext (a wrong length must fail with
22P03, which only the binary input function raises).

Run by run.sh, which exports SCOR_DRV_HOST, _PORT, _USER, _PASSWORD and
_TRUTH (the plaintext truth computed at the sites).  Prints
"psycopg: N passed, N failed" and exits non-zero on any failure.
"""
import base64
import os
import sys
import traceback
from decimal import Decimal

passed = 0
failed = 0
skipped = 0


def check(name, fn):
    """Run one check; an exception or a failed assertion fails it."""
    global passed, failed
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - every failure is reported
        failed += 1
        print(f"not ok - {name}: {type(e).__name__}: {e}")
        if os.environ.get("SCOR_DRV_VERBOSE"):
            traceback.print_exc()
    else:
        passed += 1
        print(f"ok - {name}")


def skip(name, why):
    """A check this machine cannot run: in CI (SCOR_DRV_STRICT=1, set by
    run.sh) a missing capability is a failure, not a skip."""
    global skipped, failed
    if os.environ.get("SCOR_DRV_STRICT") == "1":
        failed += 1
        print(f"not ok - {name}: {why} (in CI a check that cannot run fails)")
        return
    skipped += 1
    print(f"skip - {name}: {why}")


def load_truth():
    total, groups = None, {}
    with open(os.environ["SCOR_DRV_TRUTH"]) as f:
        for line in f:
            w = line.split()
            if w[0] == "total":
                total = (int(w[1]), int(w[2]))
            elif w[0] == "group":
                groups[w[1]] = (int(w[2]), int(w[3]))
    assert total is not None and groups, "empty truth file"
    return total, groups


TRUTH_TOTAL, TRUTH_GROUPS = load_truth()
CONN = dict(
    host=os.environ["SCOR_DRV_HOST"],
    port=os.environ["SCOR_DRV_PORT"],
    user=os.environ["SCOR_DRV_USER"],
    password=os.environ["SCOR_DRV_PASSWORD"],
)
TOTALS_QUERY = "SELECT enc_count(*), enc_sum(los) FROM admissions WHERE covid"
FEDERATE_TOTALS = "SELECT n, los FROM scor.federate(%s) AS t(n bigint, los bigint)"
REFUSED = "SELECT * FROM scor.federate('SELECT count(*) FROM admissions') AS t(n bigint)"
CIPHERTEXT_WIRE_BYTES = 74   # version, scale, key fingerprint (8), C1 (32), C2 (32)
CIPHERTEXT_TEXT_CHARS = 99   # unpadded base64url of the wire form


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def assert_eq(got, want, what):
    assert got == want, f"{what}: got {got!r}, want {want!r}"


def assert_text_ciphertext(text):
    assert isinstance(text, str), f"text ciphertext is a {type(text).__name__}"
    assert_eq(len(text), CIPHERTEXT_TEXT_CHARS, "text ciphertext length")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    assert_eq(raw[0], 1, "ciphertext version")
    assert_eq(raw[1], 0, "ciphertext scale")


def as_int_pairs(rows):
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


def expect_sqlstate(get_code, error_class, run, code, contains=None):
    """run() must raise error_class whose SQLSTATE is code."""
    try:
        run()
    except error_class as e:
        assert_eq(get_code(e), code, f"SQLSTATE of {str(e).splitlines()[0]!r}")
        if contains:
            assert contains in str(e), f"message {str(e)!r} lacks {contains!r}"
        return
    raise AssertionError(f"no error, expected SQLSTATE {code}")


def view_listed(cur):
    """The views as a BI tool finds them, through information_schema and pg_catalog."""
    cur.execute("""SELECT table_name FROM information_schema.tables
                   WHERE table_schema = 'public' AND table_type = 'VIEW' ORDER BY 1""")
    views = [r[0] for r in cur.fetchall()]
    assert "covid_summary" in views and "covid_totals" in views, f"information_schema lists {views}"
    cur.execute("""SELECT column_name, data_type FROM information_schema.columns
                   WHERE table_schema = 'public' AND table_name = 'covid_summary'
                   ORDER BY ordinal_position""")
    assert_eq([tuple(r) for r in cur.fetchall()],
              [("age_band", "text"), ("n", "bigint"), ("los", "bigint")], "covid_summary columns")
    cur.execute("""SELECT c.relname FROM pg_catalog.pg_class c
                   JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                   WHERE c.relkind = 'v' AND n.nspname = 'public'
                     AND pg_catalog.has_table_privilege(c.oid, 'SELECT') ORDER BY 1""")
    views = [r[0] for r in cur.fetchall()]
    assert "covid_summary" in views, f"pg_catalog lists {views}"


# ---------------------------------------------------------------- psycopg2

def run_psycopg2():
    import psycopg2
    import psycopg2.extensions

    def code(e):
        return e.pgcode

    a = psycopg2.connect(dbname="site_a", **CONN)
    a.autocommit = True
    solo = psycopg2.connect(dbname="site_solo", **CONN)
    solo.autocommit = True
    d = psycopg2.connect(dbname="site_d", **CONN)
    d.autocommit = True
    pre = f"psycopg2 {psycopg2.__version__.split()[0]} text:"

    def totals():
        with a.cursor() as cur:
            cur.execute(FEDERATE_TOTALS, [TOTALS_QUERY])
            rows = cur.fetchall()
        assert_eq(len(rows), 1, "rows")
        assert_eq((rows[0][0], rows[0][1]), TRUTH_TOTAL, "federated (n, los)")
        assert isinstance(rows[0][0], int)
    check(f"{pre} federated totals equal the truth", totals)

    def metadata():
        with a.cursor() as cur:
            view_listed(cur)
    check(f"{pre} the views are listed by information_schema and pg_catalog", metadata)

    def view_rows():
        with a.cursor() as cur:
            cur.execute("SELECT age_band, n, los FROM covid_summary")
            assert_eq(as_int_pairs(cur.fetchall()), TRUTH_GROUPS, "covid_summary")
            cur.execute("SELECT n, los FROM covid_totals")
            assert_eq(tuple(cur.fetchone()), TRUTH_TOTAL, "covid_totals")
    check(f"{pre} SELECT from the views gives the truth", view_rows)

    def roundtrip():
        with solo.cursor() as cur:
            cur.execute("SELECT scor.encrypt(42)")
            text = cur.fetchone()[0]
            assert_text_ciphertext(text)
            # sent back as a string literal: the server reads it with ciphertext_in
            cur.execute("SELECT scor.decrypt(%s)", [text])
            assert_eq(cur.fetchone()[0], Decimal(42), "decrypt(text ciphertext)")
            # a damaged text form is refused with 22P02
            expect_sqlstate(code, psycopg2.Error,
                            lambda: cur.execute("SELECT scor.decrypt(%s)", [text[:-1]]), "22P02")
    check(f"{pre} a ciphertext round-trips in its text form", roundtrip)

    def down():
        with d.cursor() as cur:
            expect_sqlstate(code, psycopg2.OperationalError,
                            lambda: cur.execute("SELECT * FROM down_summary"), "08001", 'site "site_a"')
    check(f"{pre} a peer that is down raises SQLSTATE 08001 naming it", down)

    def refused():
        with a.cursor() as cur:
            expect_sqlstate(code, psycopg2.Error, lambda: cur.execute(REFUSED), "SC005")
    check(f"{pre} a refused query raises SQLSTATE SC005", refused)

    # the connection is still usable after the errors
    def usable():
        with a.cursor() as cur:
            cur.execute("SELECT n FROM covid_totals")
            assert_eq(cur.fetchone()[0], TRUTH_TOTAL[0], "n after errors")
    check(f"{pre} the session goes on after the errors", usable)

    for c in (a, solo, d):
        c.close()


# ---------------------------------------------------------------- psycopg 3

def run_psycopg3(psycopg):
    from psycopg.adapt import Dumper
    from psycopg.pq import Format
    from psycopg.types import TypeInfo

    def code(e):
        return e.sqlstate

    a = psycopg.connect(dbname="site_a", autocommit=True, **CONN)
    solo = psycopg.connect(dbname="site_solo", autocommit=True, **CONN)
    d = psycopg.connect(dbname="site_d", autocommit=True, **CONN)

    for binary in (False, True):
        pre = f"psycopg {psycopg.__version__} {'binary' if binary else 'text'}:"

        def totals():
            with a.cursor(binary=binary) as cur:
                # the query text travels as a bind parameter of the extended protocol
                cur.execute(FEDERATE_TOTALS, [TOTALS_QUERY])
                rows = cur.fetchall()
                assert_eq([c.type_code for c in cur.description], [20, 20], "result types")
                assert_eq(cur.pgresult.fformat(0), 1 if binary else 0, "result format")
            assert_eq(len(rows), 1, "rows")
            assert_eq(tuple(rows[0]), TRUTH_TOTAL, "federated (n, los)")
        check(f"{pre} federated totals equal the truth", totals)

        def metadata():
            with a.cursor(binary=binary) as cur:
                view_listed(cur)
        check(f"{pre} the views are listed by information_schema and pg_catalog", metadata)

        def view_rows():
            with a.cursor(binary=binary) as cur:
                cur.execute("SELECT age_band, n, los FROM covid_summary")
                assert_eq(cur.pgresult.fformat(1), 1 if binary else 0, "result format")
                assert_eq(as_int_pairs(cur.fetchall()), TRUTH_GROUPS, "covid_summary")
                cur.execute("SELECT n, los FROM covid_totals")
                assert_eq(tuple(cur.fetchone()), TRUTH_TOTAL, "covid_totals")
        check(f"{pre} SELECT from the views gives the truth", view_rows)

        def down():
            with d.cursor(binary=binary) as cur:
                expect_sqlstate(code, psycopg.OperationalError,
                                lambda: cur.execute("SELECT * FROM down_summary"), "08001", 'site "site_a"')
        check(f"{pre} a peer that is down raises SQLSTATE 08001 naming it", down)

        def refused():
            with a.cursor(binary=binary) as cur:
                expect_sqlstate(code, psycopg.Error, lambda: cur.execute(REFUSED), "SC005")
        check(f"{pre} a refused query raises SQLSTATE SC005", refused)

    pre = f"psycopg {psycopg.__version__}:"

    def text_roundtrip():
        with solo.cursor() as cur:
            cur.execute("SELECT scor.encrypt(42)")
            text = cur.fetchone()[0]
            assert_text_ciphertext(text)
            cur.execute("SELECT scor.decrypt(%s)", [text])
            assert_eq(cur.fetchone()[0], Decimal(42), "decrypt(text ciphertext)")
    check(f"{pre} text: a ciphertext round-trips in its text form", text_roundtrip)

    # Binary parameters of type scor.ciphertext: a dumper for its oid
    info = TypeInfo.fetch(solo, "scor.ciphertext")

    class Ciphertext(bytes):
        """The 74-byte binary form of a scor.ciphertext."""

    class CiphertextBinaryDumper(Dumper):
        format = Format.BINARY
        oid = info.oid

        def dump(self, obj):
            return bytes(obj)

    solo.adapters.register_dumper(Ciphertext, CiphertextBinaryDumper)

    def binary_roundtrip():
        with solo.cursor(binary=True) as cur:
            # one value, fetched in both forms (OFFSET 0 keeps encrypt() from running twice)
            cur.execute("SELECT c, c::text FROM (SELECT scor.encrypt(42) AS c OFFSET 0) s")
            assert_eq(cur.pgresult.fformat(0), 1, "result format")
            assert_eq(cur.description[0].type_code, info.oid, "result type")
            raw, text = cur.fetchone()
            assert isinstance(raw, bytes), f"binary ciphertext is a {type(raw).__name__}"
            assert_eq(len(raw), CIPHERTEXT_WIRE_BYTES, "binary ciphertext length")
            assert_text_ciphertext(text)
            assert_eq(b64url(raw), text, "binary form, base64url-encoded")
            # sent back in binary, typed scor.ciphertext: read by ciphertext_recv
            cur.execute("SELECT scor.decrypt(%b)", [Ciphertext(raw)])
            assert_eq(cur.fetchone()[0], Decimal(42), "decrypt(binary ciphertext)")
            # a binary value of the wrong length: 22P03, which only ciphertext_recv raises
            expect_sqlstate(code, psycopg.Error,
                            lambda: cur.execute("SELECT scor.decrypt(%b)", [Ciphertext(raw[:-1])]), "22P03")
            # the binary form of a homomorphic sum decrypts to the sum
            cur.execute("SELECT %b + %b", [Ciphertext(raw), Ciphertext(raw)])
            total = cur.fetchone()[0]
            assert_eq(len(total), CIPHERTEXT_WIRE_BYTES, "binary sum length")
            cur.execute("SELECT scor.decrypt(%b)", [Ciphertext(total)])
            assert_eq(cur.fetchone()[0], Decimal(84), "decrypt(binary sum)")
    check(f"{pre} binary: a ciphertext round-trips in its binary form", binary_roundtrip)

    for c in (a, solo, d):
        c.close()


def main():
    try:
        run_psycopg2()
    except Exception as e:  # noqa: BLE001 - a failure to connect fails the suite
        check("psycopg2 runs", lambda: (_ for _ in ()).throw(e))
    try:
        import psycopg
    except ImportError:
        skip("psycopg 3", "python3-psycopg is not installed: no binary results from psycopg")
    else:
        try:
            run_psycopg3(psycopg)
        except Exception as e:  # noqa: BLE001
            check("psycopg 3 runs", lambda: (_ for _ in ()).throw(e))
    line = f"psycopg: {passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line)
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
