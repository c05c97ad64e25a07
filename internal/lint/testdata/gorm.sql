-- SQL as GORM (gorm.io/driver/postgres) emits it, captured with the logger
-- (placeholders kept). A tenant callback adds "<table>"."tenant_id" = ? to
-- every query, update and delete; models embed TenantID, so creates write it.

-- db.First(&inv, id)
SELECT * FROM "invoices" WHERE "invoices"."tenant_id" = $1 AND "invoices"."id" = $2 ORDER BY "invoices"."id" LIMIT $3;

-- db.Where("email = ?", email).First(&c)
SELECT * FROM "customers" WHERE email = $1 AND "customers"."tenant_id" = $2 ORDER BY "customers"."id" LIMIT $3;

-- db.Last(&inv)
SELECT * FROM "invoices" WHERE "invoices"."tenant_id" = $1 ORDER BY "invoices"."id" DESC LIMIT $2;

-- db.Take(&c)
SELECT * FROM "customers" WHERE "customers"."tenant_id" = $1 LIMIT $2;

-- db.Where("status = ?", "open").Find(&invs)
SELECT * FROM "invoices" WHERE status = $1 AND "invoices"."tenant_id" = $2;

-- db.Where("status IN ?", []string{"open", "draft"}).Order("id desc").Limit(20).Offset(40).Find(&invs)
SELECT * FROM "invoices" WHERE status IN ($1,$2) AND "invoices"."tenant_id" = $3 ORDER BY id desc LIMIT $4 OFFSET $5;

-- db.Find(&cs, []int64{1, 2, 3})
SELECT * FROM "customers" WHERE "customers"."id" IN ($1,$2,$3) AND "customers"."tenant_id" = $4;

-- db.Model(&Invoice{}).Count(&n)
SELECT count(*) FROM "invoices" WHERE "invoices"."tenant_id" = $1;

-- db.Model(&Invoice{}).Where("customer_id = ?", id).Pluck("id", &ids)
SELECT "id" FROM "invoices" WHERE customer_id = $1 AND "invoices"."tenant_id" = $2;

-- db.Model(&Invoice{}).Select("status, count(*) as n, sum(total) as total").Group("status").Having("count(*) > ?", 1).Scan(&rows)
SELECT status, count(*) as n, sum(total) as total FROM "invoices" WHERE "invoices"."tenant_id" = $1 GROUP BY "status" HAVING count(*) > $2;

-- db.Select("id", "total").Where(map[string]any{"status": "paid"}).Find(&invs)
SELECT "id","total" FROM "invoices" WHERE "invoices"."status" = $1 AND "invoices"."tenant_id" = $2;

-- db.Where("total BETWEEN ? AND ?", lo, hi).Or("status = ?", "void") — grouped by the scope callback
SELECT * FROM "invoices" WHERE (total BETWEEN $1 AND $2 OR status = $3) AND "invoices"."tenant_id" = $4;

-- db.Not("status = ?", "void").Find(&invs)
SELECT * FROM "invoices" WHERE NOT status = $1 AND "invoices"."tenant_id" = $2;

-- db.Create(&inv)
INSERT INTO "invoices" ("tenant_id","customer_id","total","status","id") VALUES ($1,$2,$3,$4,$5);

-- db.Create(&ev) — auto-increment primary key
INSERT INTO "events" ("tenant_id","note") VALUES ($1,$2) RETURNING "id";

-- db.Create(&items) — batch
INSERT INTO "line_items" ("tenant_id","invoice_id","amount","id") VALUES ($1,$2,$3,$4),($5,$6,$7,$8),($9,$10,$11,$12);

-- db.CreateInBatches(&customers, 2)
INSERT INTO "customers" ("tenant_id","name","email","id") VALUES ($1,$2,$3,$4),($5,$6,$7,$8);

-- db.Clauses(clause.OnConflict{Columns: {tenant_id, id}, DoUpdates: clause.AssignmentColumns([]string{"total", "status"})}).Create(&inv)
INSERT INTO "invoices" ("tenant_id","customer_id","total","status","id") VALUES ($1,$2,$3,$4,$5) ON CONFLICT ("tenant_id","id") DO UPDATE SET "total"="excluded"."total","status"="excluded"."status";

-- db.Clauses(clause.OnConflict{DoNothing: true}).Create(&c)
INSERT INTO "customers" ("tenant_id","name","email","id") VALUES ($1,$2,$3,$4) ON CONFLICT DO NOTHING;

-- db.Clauses(clause.OnConflict{Columns: {id}, UpdateAll: true, Where: tenant}).Create(&c)
INSERT INTO "customers" ("tenant_id","name","email","id") VALUES ($1,$2,$3,$4) ON CONFLICT ("id") DO UPDATE SET "name"="excluded"."name","email"="excluded"."email" WHERE "customers"."tenant_id" = "excluded"."tenant_id";

-- db.Model(&inv).Update("status", "paid")
UPDATE "invoices" SET "status"=$1 WHERE "invoices"."tenant_id" = $2 AND "id" = $3;

-- db.Model(&inv).Updates(Invoice{Total: 10, Status: "open"})
UPDATE "invoices" SET "total"=$1,"status"=$2 WHERE "invoices"."tenant_id" = $3 AND "id" = $4;

-- db.Save(&inv) — writes every field, the tenant included (to the same value)
UPDATE "invoices" SET "tenant_id"=$1,"customer_id"=$2,"total"=$3,"status"=$4 WHERE "invoices"."tenant_id" = $5 AND "id" = $6;

-- db.Model(&Invoice{}).Where("status = ?", "open").Update("total", gorm.Expr("total * ?", 1.1))
UPDATE "invoices" SET "total"=total * $1 WHERE status = $2 AND "invoices"."tenant_id" = $3;

-- db.Delete(&item)
DELETE FROM "line_items" WHERE "line_items"."tenant_id" = $1 AND "line_items"."id" = $2;

-- db.Where("invoice_id = ?", id).Delete(&LineItem{})
DELETE FROM "line_items" WHERE invoice_id = $1 AND "line_items"."tenant_id" = $2;

-- db.Delete(&Customer{}, []int64{1, 2})
DELETE FROM "customers" WHERE "customers"."id" IN ($1,$2) AND "customers"."tenant_id" = $3;

-- db.Preload("LineItems").Find(&invs) — the second query
SELECT * FROM "line_items" WHERE "line_items"."invoice_id" IN ($1,$2,$3) AND "line_items"."tenant_id" = $4;

-- db.Preload("Customer").First(&inv) — the second query
SELECT * FROM "customers" WHERE "customers"."id" = $1 AND "customers"."tenant_id" = $2;

-- db.Joins("Customer").Find(&invs), relation on foreignKey:TenantID,CustomerID
SELECT "invoices"."id","invoices"."tenant_id","invoices"."customer_id","invoices"."total","invoices"."status","Customer"."id" AS "Customer__id","Customer"."tenant_id" AS "Customer__tenant_id","Customer"."name" AS "Customer__name","Customer"."email" AS "Customer__email" FROM "invoices" LEFT JOIN "customers" "Customer" ON "invoices"."tenant_id" = "Customer"."tenant_id" AND "invoices"."customer_id" = "Customer"."id" WHERE "invoices"."tenant_id" = $1;

-- db.InnerJoins("Customer").Where("Customer.name = ?", name).Find(&invs)
SELECT "invoices"."id","invoices"."total","Customer"."id" AS "Customer__id","Customer"."name" AS "Customer__name" FROM "invoices" INNER JOIN "customers" "Customer" ON "invoices"."tenant_id" = "Customer"."tenant_id" AND "invoices"."customer_id" = "Customer"."id" WHERE "Customer"."name" = $1 AND "invoices"."tenant_id" = $2;

-- db.Joins("JOIN line_items ON line_items.invoice_id = invoices.id AND line_items.tenant_id = invoices.tenant_id").Where("line_items.amount > ?", 100).Distinct("invoices.id").Find(&ids)
SELECT DISTINCT "invoices"."id" FROM "invoices" JOIN line_items ON line_items.invoice_id = invoices.id AND line_items.tenant_id = invoices.tenant_id WHERE line_items.amount > $1 AND "invoices"."tenant_id" = $2;

-- db.Model(&inv).Association("LineItems").Count()
SELECT count(*) FROM "line_items" WHERE "line_items"."invoice_id" = $1 AND "line_items"."tenant_id" = $2;

-- db.Where("id IN (?)", db.Table("line_items").Select("invoice_id").Where("amount > ?", 0)) with the scope on both
SELECT * FROM "invoices" WHERE id IN (SELECT "invoice_id" FROM "line_items" WHERE amount > $1 AND "line_items"."tenant_id" = $2) AND "invoices"."tenant_id" = $3;

-- db.Raw("SELECT ... WHERE tenant_id = @tenant AND status = @status", sql.Named(...))
SELECT id, total FROM invoices WHERE tenant_id = @tenant AND status = @status;

-- db.Clauses(clause.Locking{Strength: "UPDATE"}).First(&inv, id)
SELECT * FROM "invoices" WHERE "invoices"."tenant_id" = $1 AND "invoices"."id" = $2 ORDER BY "invoices"."id" LIMIT $3 FOR UPDATE;

-- global tables need no scope
SELECT * FROM "countries" ORDER BY "countries"."code";
SELECT * FROM "plans" WHERE "plans"."id" = $1 ORDER BY "plans"."id" LIMIT $2;

----------------------------------------------------------------------------
-- What the guard reports: GORM calls that miss the tenant.

-- want: unscoped — db.Unscoped()/a model without TenantID: First by id only
SELECT * FROM "invoices" WHERE "invoices"."id" = $1 ORDER BY "invoices"."id" LIMIT $2;

-- want: unscoped — Find without the callback
SELECT * FROM "customers";

-- want: unscoped — Preload of a child model without TenantID
SELECT * FROM "line_items" WHERE "line_items"."invoice_id" IN ($1,$2);

-- want: unscoped — Joins on the single-column foreign key
SELECT "invoices"."id","invoices"."total","Customer"."id" AS "Customer__id","Customer"."name" AS "Customer__name" FROM "invoices" LEFT JOIN "customers" "Customer" ON "invoices"."customer_id" = "Customer"."id" WHERE "invoices"."tenant_id" = $1;

-- want: insert_tenant — CreateInBatches of a model without TenantID
INSERT INTO "line_items" ("invoice_id","amount","id") VALUES ($1,$2,$3),($4,$5,$6);

-- want: insert_tenant
INSERT INTO "audit"."log" ("msg","id") VALUES ($1,$2);

-- want: unscoped — Save upserts on the primary key alone
INSERT INTO "invoices" ("tenant_id","customer_id","total","status","id") VALUES ($1,$2,$3,$4,$5) ON CONFLICT ("id") DO UPDATE SET "total"="excluded"."total","status"="excluded"."status";

-- want: unscoped — known false positive (guard/testdata/false_positives.txtar gorm-association-upsert): the association save conflicts on id only
INSERT INTO "events" ("note") VALUES ($1) ON CONFLICT ("id") DO UPDATE SET "note"="excluded"."note" RETURNING "id";

-- want: unscoped — db.Session(&gorm.Session{AllowGlobalUpdate: true}).Model(&Invoice{}).Update(...)
UPDATE "invoices" SET "status"=$1;

-- want: unscoped — Delete by primary key without the scope
DELETE FROM "customers" WHERE "customers"."id" = $1;

-- want: unscoped — a user Or() outside the scope's parentheses escapes it
SELECT * FROM "invoices" WHERE "invoices"."tenant_id" = $1 AND status = $2 OR status = $3;
