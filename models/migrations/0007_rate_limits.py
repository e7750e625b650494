"""Request budgets per SCIM token and per OAuth client (models.rate_limits): one row per subject."""
from peewee import *


def up(migrator, db):
    class RateLimitCounter(Model):
        subject = CharField(primary_key=True, max_length=200)
        window_started_at = DateTimeField()
        requests = IntegerField(default=0)
        class Meta:
            database = db
            table_name = 'rate_limit_counter'
    db.create_tables([RateLimitCounter])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('rate_limit_counter'))
