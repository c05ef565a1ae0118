"""The classified table of built-in functions against a live PostgreSQL 15:
every function in pg_catalog is in it, with the same OID, name and argument
types (a minor release that adds or changes one fails here first)."""

import subprocess

from conftest import pgsieve_bin, psql


def test_every_function_in_the_live_pg_catalog_is_classified(postgres):
    listed = {}
    out = subprocess.run([pgsieve_bin(), "builtins"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        oid, signature, cls, _reason = line.split("\t")
        listed[int(oid)] = (signature, cls)
    live = psql("""
        SELECT p.oid, p.proname || '(' || array_to_string(p.proargtypes::oid[], ' ')
               || CASE WHEN p.proallargtypes IS NULL THEN ''
                       ELSE '|' || coalesce((SELECT string_agg(t::text, ' ' ORDER BY i)
                                             FROM unnest(p.proallargtypes, p.proargmodes) WITH ORDINALITY AS a(t, m, i)
                                             WHERE m IN ('o', 't')), '') END || ')'
        FROM pg_catalog.pg_proc p WHERE p.pronamespace = 'pg_catalog'::regnamespace""").stdout
    rows = [line.split("|", 1) for line in live.splitlines()]
    assert len(rows) > 3000
    for oid, signature in rows:
        assert int(oid) in listed, f"{signature} (oid {oid}) is not in pgsieve's table"
        assert listed[int(oid)][0] == signature, (oid, listed[int(oid)][0], signature)
    assert len(listed) == len(rows), "the table lists functions this server does not have"
    classes = {cls for _, cls in listed.values()}
    assert classes == {"allowed", "guarded", "setting", "refused"}
