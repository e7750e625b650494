"""models.prepared: statements built once read and write exactly what peewee's own queries do.

Prepared leans on a few private parts of peewee (a query's cursor wrapper and
its row processing, a field's column order, a model's metadata). A peewee
upgrade that renames or reshapes them must fail here, loudly and by name,
not as wrong rows somewhere on a SCIM read.
"""

from __future__ import annotations

import peewee
import pytest

from models import prepared, scim_tokens
from models.fields import new_id
from models.prepared import Prepared
from models.tenancy import Account, DirectoryRecord, Membership, ScimToken

PRIVATE = "peewee {version} changed {part}, which models/prepared.py relies on: adapt it before upgrading"


def test_the_private_peewee_api_prepared_relies_on_is_there():
    version = peewee.__version__
    query = Account.select()
    assert callable(getattr(query, "_get_cursor_wrapper", None)), \
        PRIVATE.format(version=version, part="Query._get_cursor_wrapper(cursor)")
    wrapper_class = peewee.ModelObjectCursorWrapper
    for method in ("initialize", "process_row"):
        assert callable(getattr(wrapper_class, method, None)), \
            PRIVATE.format(version=version, part=f"the cursor wrapper's {method}()")
    meta = DirectoryRecord._meta
    for part in ("fields", "combined", "defaults", "primary_key"):
        assert hasattr(meta, part), PRIVATE.format(version=version, part=f"Model._meta.{part}")
    assert isinstance(DirectoryRecord.id._sort_key, tuple), PRIVATE.format(version=version, part="Field._sort_key")
    # the order _sort_key gives is the column order peewee writes an INSERT in
    fields = sorted(meta.sorted_fields, key=lambda f: f._sort_key)
    assert [f.name for f in fields] == [f.name for f in meta.sorted_fields], \
        PRIVATE.format(version=version, part="the column order of Field._sort_key")


def _token_and_account(hashed: str) -> peewee.Query:
    return ScimToken.select(ScimToken, Account).join(Account).where(ScimToken.token_hash == hashed).limit(1)


def test_a_prepared_select_gives_the_rows_and_joined_models_peewee_gives(account, cli_actor):
    token, _secret = scim_tokens.create_token(account, description="prepared", by=cli_actor)
    statement = Prepared(_token_and_account)
    for _ in range(2):  # built the first time, reused the second
        found = statement.first(token.token_hash)
        expected = _token_and_account(token.token_hash).get()
        assert found is not None and found.__data__ == expected.__data__
        assert found.account.__data__ == expected.account.__data__  # the joined model, without another query
    assert statement.first("no such hash") is None
    assert statement.all("no such hash") == []


def test_a_value_that_does_not_reach_the_sql_unchanged_is_refused_when_built(database):
    statement = Prepared(lambda name: Account.select().where(Account.name == name.upper()))
    with pytest.raises(ValueError, match="did not reach the SQL unchanged"):
        statement.first("x")


def test_prepared_insert_writes_what_insert_many_writes(account):
    rows = [dict(id=new_id(), account=account.id, user_name=f"p{i}", user_name_key=f"p{i}", external_id=None,
                 attributes={"userName": f"p{i}", "title": "T"}, membership=None, unlinked_reason="x", active=True)
            for i in range(3)]
    prepared.insert(DirectoryRecord, rows)
    twins = [{**row, "id": new_id(), "user_name": row["user_name"] + "b", "user_name_key": row["user_name"] + "b"}
             for row in rows]
    DirectoryRecord.insert_many(twins).execute()
    ours = {r.user_name: r for r in DirectoryRecord.select().where(DirectoryRecord.account == account.id)}
    for row in rows:
        mine, theirs = ours[row["user_name"]], ours[row["user_name"] + "b"]
        skip = {"id", "user_name", "user_name_key", "created_at", "updated_at"}
        assert {k: v for k, v in mine.__data__.items() if k not in skip} == \
               {k: v for k, v in theirs.__data__.items() if k not in skip}


def test_an_insert_naming_an_unknown_field_is_refused(database):
    with pytest.raises(KeyError, match="no field"):
        prepared.insert(Membership, [{"no_such_field": 1}])
