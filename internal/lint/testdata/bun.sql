-- SQL as bun (github.com/uptrace/bun, pgdialect) emits it: quoted names,
-- model aliases ("invoice"), parenthesized conditions and values inlined as
-- literals. .Apply(byTenant(ctx)) adds ("invoice"."tenant_id" = '<tenant>').

-- db.NewSelect().Model(&inv).Apply(byTenant(ctx)).WherePK().Scan(ctx)
SELECT "invoice"."id", "invoice"."tenant_id", "invoice"."customer_id", "invoice"."total", "invoice"."status" FROM "invoices" AS "invoice" WHERE ("invoice"."tenant_id" = 't01') AND ("invoice"."id" = 5);

-- .Where("?TableAlias.status = ?", "open").Order("id DESC").Limit(20).Offset(40)
SELECT "invoice"."id", "invoice"."tenant_id", "invoice"."total", "invoice"."status" FROM "invoices" AS "invoice" WHERE ("invoice"."tenant_id" = 't01') AND ("invoice"."status" = 'open') ORDER BY "invoice"."id" DESC LIMIT 20 OFFSET 40;

-- .WhereGroup(" AND ", func(q) { q.Where(...).WhereOr(...) })
SELECT "invoice"."id" FROM "invoices" AS "invoice" WHERE ("invoice"."tenant_id" = 't01') AND (("invoice"."status" = 'open') OR ("invoice"."status" = 'pending'));

-- .Where("?TableAlias.id IN (?)", bun.In(ids))
SELECT "customer"."id", "customer"."tenant_id", "customer"."name", "customer"."email" FROM "customers" AS "customer" WHERE ("customer"."tenant_id" = 't01') AND ("customer"."id" IN (1, 2, 3));

-- .Count(ctx)
SELECT count(*) FROM "customers" AS "customer" WHERE ("customer"."tenant_id" = 't01');

-- .Exists(ctx)
SELECT EXISTS (SELECT "invoice"."id" FROM "invoices" AS "invoice" WHERE ("invoice"."tenant_id" = 't01') AND ("invoice"."status" = 'open'));

-- .ScanAndCount(ctx): the count half, with a NULL check
SELECT count(*) FROM "invoices" AS "invoice" WHERE ("invoice"."tenant_id" = 't01') AND ("invoice"."customer_id" IS NOT NULL);

-- .ColumnExpr("sum(?TableAlias.total)").Group("status")
SELECT "invoice"."status", sum("invoice"."total") AS "total" FROM "invoices" AS "invoice" WHERE ("invoice"."tenant_id" = 't01') GROUP BY "invoice"."status" ORDER BY "total" DESC;

-- Relation("Customer", byTenant): belongs-to, joined on tenant_id=tenant_id
SELECT "invoice"."id", "invoice"."total", "customer"."id" AS "customer__id", "customer"."tenant_id" AS "customer__tenant_id", "customer"."name" AS "customer__name" FROM "invoices" AS "invoice" LEFT JOIN "customers" AS "customer" ON ("customer"."tenant_id" = "invoice"."tenant_id") AND ("customer"."id" = "invoice"."customer_id") WHERE ("invoice"."tenant_id" = 't01');

-- Relation("Customer") with the tenant in the join condition as a literal
SELECT "invoice"."id", "customer"."id" AS "customer__id", "customer"."name" AS "customer__name" FROM "invoices" AS "invoice" LEFT JOIN "customers" AS "customer" ON ("customer"."id" = "invoice"."customer_id") AND ("customer"."tenant_id" = 't01') WHERE ("invoice"."tenant_id" = 't01');

-- Relation("LineItems", byTenant): has-many, the second query
SELECT "line_item"."id", "line_item"."tenant_id", "line_item"."invoice_id", "line_item"."amount" FROM "line_items" AS "line_item" WHERE ("line_item"."tenant_id" = 't01') AND ("line_item"."invoice_id" IN (5, 6, 7));

-- .TableExpr / subquery in FROM, scoped inside
SELECT "t"."customer_id", "t"."n" FROM (SELECT "invoice"."customer_id", count(*) AS "n" FROM "invoices" AS "invoice" WHERE ("invoice"."tenant_id" = 't01') GROUP BY "invoice"."customer_id") AS "t" WHERE ("t"."n" > 3);

-- db.NewInsert().Model(&c).Returning("id")
INSERT INTO "customers" AS "customer" ("id", "tenant_id", "name", "email") VALUES (7, 't01', 'Acme GmbH', NULL) RETURNING "id";

-- nullzero tenant on events: DEFAULT reads the setting
INSERT INTO "events" AS "event" ("id", "tenant_id", "note") VALUES (DEFAULT, DEFAULT, 'invoice 5 sent') RETURNING "id", "tenant_id";

-- events without the tenant column at all
INSERT INTO "events" AS "event" ("note") VALUES ('login') RETURNING "id";

-- .On("CONFLICT (tenant_id, id) DO UPDATE").Set("total = EXCLUDED.total")
INSERT INTO "invoices" AS "invoice" ("id", "tenant_id", "customer_id", "total", "status") VALUES (5, 't01', 7, 100, 'open') ON CONFLICT (tenant_id, id) DO UPDATE SET total = EXCLUDED.total, status = EXCLUDED.status;

-- bulk insert of a slice
INSERT INTO "line_items" AS "line_item" ("id", "tenant_id", "invoice_id", "amount") VALUES (101, 't01', 5, 2.5), (102, 't01', 5, 7), (103, 't01', 5, 12.75);

-- .On("CONFLICT (id) DO UPDATE").Where("invoice.tenant_id = EXCLUDED.tenant_id")
INSERT INTO "customers" AS "customer" ("id", "tenant_id", "name", "email") VALUES (7, 't01', 'Acme', 'billing@acme.test') ON CONFLICT (id) DO UPDATE SET "name" = EXCLUDED."name", "email" = EXCLUDED."email" WHERE ("customer"."tenant_id" = EXCLUDED."tenant_id");

-- .On("CONFLICT DO NOTHING")
INSERT INTO "line_items" AS "line_item" ("id", "tenant_id", "invoice_id", "amount") VALUES (104, 't01', 5, 1) ON CONFLICT DO NOTHING;

-- db.NewUpdate().Model(&inv).Column("status").Apply(byTenant(ctx)).WherePK()
UPDATE "invoices" AS "invoice" SET "status" = 'paid' WHERE ("invoice"."tenant_id" = 't01') AND ("invoice"."id" = 5);

-- .Set("total = total + ?", 10).Returning("total")
UPDATE "invoices" AS "invoice" SET total = total + 10 WHERE ("invoice"."tenant_id" = 't01') AND ("invoice"."id" = 5) RETURNING "invoice"."total";

-- bulk update: db.NewUpdate().With("_data", db.NewValues(&invs)).Model((*Invoice)(nil)).TableExpr("_data").Set(...).Where(...)
WITH "_data" ("id", "status") AS (VALUES (5::bigint, 'paid'), (6::bigint, 'void')) UPDATE "invoices" AS "invoice" SET "status" = _data."status" FROM _data WHERE ("invoice"."id" = _data."id") AND ("invoice"."tenant_id" = 't01');

-- the same with a FROM (VALUES …) list, as Bulk() renders it
UPDATE "invoices" AS "invoice" SET "total" = _data."total" FROM (VALUES (5::bigint, 10::numeric), (6::bigint, 20::numeric)) AS _data ("id", "total") WHERE ("invoice"."tenant_id" = 't01') AND ("invoice"."id" = _data."id");

-- db.NewDelete().Model(&item).Apply(byTenant(ctx)).WherePK()
DELETE FROM "line_items" AS "line_item" WHERE ("line_item"."tenant_id" = 't01') AND ("line_item"."id" = 101);

-- .Where("invoice_id IN (?)", bun.In(ids)).Returning("id")
DELETE FROM "line_items" AS "line_item" WHERE ("line_item"."tenant_id" = 't01') AND ("line_item"."invoice_id" IN (5, 6)) RETURNING "line_item"."id";

-- .ModelTableExpr with the view exposing the tenant
SELECT "s"."n", "s"."total" FROM "invoice_summary" AS "s" WHERE ("s"."tenant_id" = 't01');

-- models of global tables
SELECT "plan"."id", "plan"."name" FROM "plans" AS "plan" ORDER BY "plan"."id" ASC;
SELECT "country"."code", "country"."name" FROM "countries" AS "country" WHERE ("country"."code" IN ('DE', 'FR'));
INSERT INTO "plans" AS "plan" ("id", "name") VALUES (4, 'team') ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name;

----------------------------------------------------------------------------
-- What the guard reports.

-- want: unscoped — .WherePK() without byTenant
SELECT "invoice"."id", "invoice"."tenant_id", "invoice"."customer_id", "invoice"."total", "invoice"."status" FROM "invoices" AS "invoice" WHERE ("invoice"."id" = 5);

-- want: unscoped — WhereOr() at the top level escapes the tenant
SELECT "invoice"."id" FROM "invoices" AS "invoice" WHERE ("invoice"."tenant_id" = 't01') OR ("invoice"."status" = 'open');

-- want: unscoped — Relation("Customer") without the tenant join condition
SELECT "invoice"."id", "customer"."id" AS "customer__id", "customer"."name" AS "customer__name" FROM "invoices" AS "invoice" LEFT JOIN "customers" AS "customer" ON ("customer"."id" = "invoice"."customer_id") WHERE ("invoice"."tenant_id" = 't01');

-- want: unscoped — has-many load without the tenant
SELECT "line_item"."id", "line_item"."amount" FROM "line_items" AS "line_item" WHERE ("line_item"."invoice_id" IN (5, 6, 7));

-- want: insert_tenant — bulk insert of a model without TenantID
INSERT INTO "line_items" AS "line_item" ("id", "invoice_id", "amount") VALUES (201, 5, 2.5), (202, 5, 7);

-- want: insert_tenant — nullzero tenant on a table whose default does not read the setting
INSERT INTO "invoices" AS "invoice" ("id", "tenant_id", "total") VALUES (9, DEFAULT, 10);

-- want: unscoped — NewDelete().WherePK() without byTenant
DELETE FROM "invoices" AS "invoice" WHERE ("invoice"."id" = 5);

-- want: unscoped — bulk update joined on id only
UPDATE "invoices" AS "invoice" SET "status" = _data."status" FROM (VALUES (5::bigint, 'paid')) AS _data ("id", "status") WHERE ("invoice"."id" = _data."id");

-- want: unscoped — the tenant compared with LIKE
SELECT "customer"."id" FROM "customers" AS "customer" WHERE ("customer"."tenant_id" LIKE 't0%');

-- want: unscoped — the tenant compared with <>
SELECT count(*) FROM "customers" AS "customer" WHERE ("customer"."tenant_id" <> 't01');

-- want: hidden_view — a model over the view that hides the tenant
SELECT "revenue"."month", "revenue"."total" FROM "revenue" AS "revenue";
