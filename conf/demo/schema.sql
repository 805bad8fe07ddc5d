-- The demo database's tables (conf/demo/run.sh loads this into a fresh database `demo`; so does
-- the end-to-end test, tests/integration/e2e_stack.cpp).
CREATE TABLE items (id int PRIMARY KEY, name text);
INSERT INTO items VALUES (1, 'widget'), (2, 'gadget');

CREATE TABLE products (id int PRIMARY KEY, name text, price numeric, updated_at timestamptz DEFAULT now());
INSERT INTO products (id, name, price) VALUES (1, 'teapot', 18.50), (2, 'kettle', 32.00);
