-- Demo data for a local database: the original service's seed (John Doe and
-- "We are Reactive") plus a small catalog and a few more customers.
--
-- Loaded by `cargo xtask run` into a freshly created database, or by hand:
--     psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -f seed/seed.sql
-- after the migrations. Idempotent: loading it again inserts nothing, and
-- rows someone already changed are left as they are.

SET client_encoding = 'UTF8';

BEGIN;

-- A disc's initial stock is recorded as a stock adjustment, as the service
-- does, so "stock + confirmed units = initial + restocks" holds for seeded
-- discs too. Only discs inserted now get one, so a second load adds none.
WITH inserted AS (
    INSERT INTO discs (id, name, artist, year_of_release, genre, quantity) VALUES
        ('bcd8a0e9-dc0a-4ae7-a783-458542e2cc39', 'We are Reactive', 'Hohpe', 2022, 'Indie', 500),
        ('d2dd6015-2dc7-4570-af17-2480c9fdf86a', 'Abbey Road', 'The Beatles', 1969, 'Rock', 42),
        ('d81e538b-bf92-49f8-a4bf-9f33e8708a92', 'Rumours', 'Fleetwood Mac', 1977, 'Rock', 18),
        ('d0588492-c0dd-4d7d-9faa-f0dab241f3e2', 'Led Zeppelin IV', 'Led Zeppelin', 1971, 'Rock', 12),
        ('245fb244-3c0c-42c4-88c0-a8936af71827', 'The Dark Side of the Moon', 'Pink Floyd', 1973, 'Progressive Rock', 25),
        ('94929bc4-8ffe-4e72-9fc0-049fe86dc11d', 'London Calling', 'The Clash', 1979, 'Punk', 7),
        ('40d0f17a-d257-4801-b366-bac634bd40ca', 'Nevermind', 'Nirvana', 1991, 'Alternative Rock', 30),
        ('f927a0bf-5457-4cf2-a1a1-692613abb705', 'OK Computer', 'Radiohead', 1997, 'Alternative Rock', 15),
        ('9b9c0451-9aed-4955-8640-3c5d34ee9c90', 'Is This It', 'The Strokes', 2001, 'Indie Rock', 9),
        ('6a0cf66b-bbf3-44c0-8431-a3232e0411d1', 'Back in Black', 'AC/DC', 1980, 'Hard Rock', 22),
        ('d09e48af-5e14-4b99-a69b-bc7b7d54ea16', 'Paranoid', 'Black Sabbath', 1970, 'Heavy Metal', 9),
        ('b46f17dd-420f-4148-8149-122ca7f1824c', 'Master of Puppets', 'Metallica', 1986, 'Heavy Metal', 17),
        ('7e253a3a-2898-4eae-a465-73484d852ea8', 'Kind of Blue', 'Miles Davis', 1959, 'Jazz', 20),
        ('de316a05-d206-4ce6-8cc1-ca8374220707', 'A Love Supreme', 'John Coltrane', 1965, 'Jazz', 6),
        ('586382b5-8463-4d77-9b16-9e70b9cc5aa1', 'Time Out', 'The Dave Brubeck Quartet', 1959, 'Jazz', 0),
        ('536a6697-969f-466a-a934-0f71de07e0a3', 'Getz/Gilberto', 'Stan Getz & João Gilberto', 1964, 'Bossa Nova', 11),
        ('b7a8b1f0-bf51-4037-8484-e6e4f5ed5fd3', 'Elis & Tom', 'Elis Regina & Antônio Carlos Jobim', 1974, 'MPB', 8),
        ('026c3ecb-cfc7-4f87-9a34-6f748c5ce974', 'Construção', 'Chico Buarque', 1971, 'MPB', 5),
        ('f0377f93-25dd-42e9-92b1-6f87e5e4d2eb', 'Clube da Esquina', 'Milton Nascimento & Lô Borges', 1972, 'MPB', 4),
        ('7040af4e-ef08-4e8f-809e-01f50f62e97f', 'Tropicália ou Panis et Circencis', 'Various Artists', 1968, 'Tropicália', 3),
        ('eee66978-3acd-451c-87df-6a78de83cde5', 'Thriller', 'Michael Jackson', 1982, 'Pop', 60),
        ('0c323125-86ff-4961-b5fb-c9a278049205', 'Purple Rain', 'Prince and the Revolution', 1984, 'Pop', 14),
        ('3986e41d-eca3-47dc-ae69-6ed8463d494f', 'Like a Prayer', 'Madonna', 1989, 'Pop', 0),
        ('d8f2724b-ffcb-444a-8763-d050bd440147', '21', 'Adele', 2011, 'Pop', 35),
        ('7341684d-856d-4e45-9f58-0b050df8bf20', 'Folklore', 'Taylor Swift', 2020, 'Indie Folk', 40),
        ('292c9ce8-6133-4a4b-91dc-82ca16947f21', 'What''s Going On', 'Marvin Gaye', 1971, 'Soul', 10),
        ('4529b3f5-2e63-417f-bcc5-3c9fb1c63a2d', 'Songs in the Key of Life', 'Stevie Wonder', 1976, 'Soul', 13),
        ('320c786c-9429-4274-a1cb-2b6d58606718', 'I Never Loved a Man the Way I Love You', 'Aretha Franklin', 1967, 'Soul', 2),
        ('7a1eba09-b7fb-40d7-a691-b519d61f507f', 'Mothership Connection', 'Parliament', 1975, 'Funk', 4),
        ('2c8658bd-9dcc-4108-880a-1740053b47c2', 'SOS', 'SZA', 2022, 'R&B', 27),
        ('7fc8cc5a-53d7-41a8-8c4d-13b0e19b83b2', 'The Miseducation of Lauryn Hill', 'Lauryn Hill', 1998, 'Hip Hop', 12),
        ('ed3557cc-34a1-4733-a631-47f9f6048137', 'Illmatic', 'Nas', 1994, 'Hip Hop', 0),
        ('bbc7e3ec-3de2-4039-91ac-846a88163ce9', 'Sobrevivendo no Inferno', 'Racionais MC''s', 1997, 'Hip Hop', 6),
        ('538054ed-1c5a-408d-8460-fea4cf290fc1', 'To Pimp a Butterfly', 'Kendrick Lamar', 2015, 'Hip Hop', 19),
        ('40a05276-d2f5-42ef-873e-c29b6933ca83', 'Selected Ambient Works 85–92', 'Aphex Twin', 1992, 'Electronic', 1),
        ('8a043dd8-0b07-494d-9a1f-1640d41e583a', 'Homogenic', 'Björk', 1997, 'Electronic', 3),
        ('a925b9c9-852e-4470-a34b-f678da5f8c88', 'Discovery', 'Daft Punk', 2001, 'Electronic', 16),
        ('d2918ea9-4f1d-4a4d-8487-4624b204ee28', 'Exodus', 'Bob Marley & The Wailers', 1977, 'Reggae', 21),
        ('48123b6a-6a33-400c-ad3e-e181e51c22ed', 'The Freewheelin'' Bob Dylan', 'Bob Dylan', 1963, 'Folk', 5),
        ('baca01a4-ce84-4d21-a858-ca364d5710cb', 'Blue', 'Joni Mitchell', 1971, 'Folk', 8),
        ('fd54a6a5-6b3b-4788-a04c-12a5ad7189f3', 'At Folsom Prison', 'Johnny Cash', 1968, 'Country', 7),
        ('5d41c9dd-e4e0-4042-9c11-b88eb49b84ec', 'Jolene', 'Dolly Parton', 1974, 'Country', 0),
        ('458cbee7-247a-4455-bcae-3d85ae6ada0d', 'King of the Delta Blues Singers', 'Robert Johnson', 1961, 'Blues', 2),
        ('af9a2a25-2794-4110-a0df-db78bf3292dd', 'Bach: The Goldberg Variations', 'Glenn Gould', 1955, 'Classical', 4)
    ON CONFLICT (id) DO NOTHING
    RETURNING id, quantity
)
INSERT INTO stock_adjustments (disc_id, delta, reason)
SELECT id, quantity, 'initial' FROM inserted;

-- Without a conflict target: a customer whose id, document or email is
-- already taken (by an earlier load or by the API) is skipped.
INSERT INTO customers (id, document, name, birth_date, email, phone, is_active) VALUES
    ('0e92cf1e-7bc4-4f9e-8eb6-3c88627efecb', '12345678911', 'John Doe', '2000-01-01', 'johndoe@gmail.com', '5511123456789', true),
    ('351460e9-e221-43a5-b739-7fadd97813d6', '98765432100', 'Maria Oliveira Santos', '1985-03-14', 'maria.santos@example.com', '+55 11 98765-4321', true),
    ('7e9b4efd-57ee-48d2-b1bc-0423e4f7a203', 'JP-TK-7741203', 'Kenji Watanabe', '1978-11-02', 'kenji.watanabe@example.org', '+81 3 5555 0134', true),
    ('a5974fb0-1afe-44b4-b88b-1f485701549c', 'A90328811', 'Amara Okafor', '1999-07-21', 'amara.okafor@example.net', '(020) 7946 0958', true),
    ('f0105dca-b090-487e-be61-5b8cdf5d7dc9', '45612378900', 'Lucas Ferreira', '1992-05-30', 'lucas.ferreira@example.com.br', '+55 (21) 3456-7890', true),
    ('0287afc6-6cc8-42b7-a081-bcb483fae3d5', 'NO-19640812', 'Ingrid Halvorsen', '1964-08-12', 'ingrid.halvorsen@example.no', '+47 22 33 44 55', false)
ON CONFLICT DO NOTHING;

-- Two of John Doe's orders with fixed ids, so that the examples naming an
-- order resolve (the API documentation reads the first, cancels the
-- second). Each is placed as the service would: its units leave the
-- disc's stock, and the snapshots hold the customer and the disc as they
-- were right after the sale. An order already there changes nothing.
WITH placed AS (
    INSERT INTO purchase_orders
        (id, customer_id, disc_id, quantity, status, customer_snapshot, disc_snapshot)
    SELECT o.id, c.id, d.id, o.quantity, 'confirmed',
           to_jsonb(c),
           to_jsonb(d) - 'deleted_at' || jsonb_build_object('quantity', d.quantity - o.quantity)
    FROM (VALUES
            ('5c6f0d2a-8e4b-4f1a-9d3e-7b2a1c0e9f01'::uuid,
             '0e92cf1e-7bc4-4f9e-8eb6-3c88627efecb'::uuid,
             'd2dd6015-2dc7-4570-af17-2480c9fdf86a'::uuid, 1),
            ('a3e1b7c4-2d5f-4e6a-8b9c-0d1e2f3a4b5c'::uuid,
             '0e92cf1e-7bc4-4f9e-8eb6-3c88627efecb'::uuid,
             '7e253a3a-2898-4eae-a465-73484d852ea8'::uuid, 2)
         ) AS o (id, customer_id, disc_id, quantity)
    JOIN customers c ON c.id = o.customer_id
    JOIN discs d ON d.id = o.disc_id AND d.quantity >= o.quantity
    ON CONFLICT (id) DO NOTHING
    RETURNING disc_id, quantity
)
UPDATE discs d
   SET quantity = d.quantity - sold.units, updated_at = now()
  FROM (SELECT disc_id, SUM(quantity) AS units FROM placed GROUP BY disc_id) AS sold
 WHERE d.id = sold.disc_id;

COMMIT;
