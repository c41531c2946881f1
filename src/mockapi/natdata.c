/* Data tables for the generator (see natdata.h). Names are written in the scripts randomuser
 * uses for each nationality (Persian for IR, Cyrillic for RS and UA, accented Latin elsewhere),
 * so every consumer is exercised with non-ASCII text. */
#include "mockapi/natdata.h"

#include <stddef.h>

#define L(a) a, (int)(sizeof(a) / sizeof(a[0]))

/* AU */
static const char *const au_m[] = {"Jack",  "Oliver", "William",  "Lucas",  "Noah",
                                   "Ethan", "Liam",   "Harrison", "Cooper", "Riley"};
static const char *const au_f[] = {"Charlotte", "Olivia",  "Mia", "Chloe",  "Isla",
                                   "Ruby",      "Matilda", "Zoe", "Sophie", "Ella"};
static const char *const au_l[] = {"Smith",  "Jones",    "Williams", "Brown",
                                   "Wilson", "Taylor",   "Johnson",  "White",
                                   "Martin", "Anderson", "Thompson", "Walker"};
static const char *const au_s[] = {"George St",  "Victoria Road", "Elizabeth Street",
                                   "Park Road",  "Church Street", "Queen Street",
                                   "Bay Street", "Railway Parade"};
static const struct mockapi_city au_c[] = {
    {"Sydney", "New South Wales"},   {"Newcastle", "New South Wales"}, {"Melbourne", "Victoria"},
    {"Geelong", "Victoria"},         {"Brisbane", "Queensland"},       {"Cairns", "Queensland"},
    {"Perth", "Western Australia"},  {"Adelaide", "South Australia"},  {"Hobart", "Tasmania"},
    {"Darwin", "Northern Territory"}};

/* BR */
static const char *const br_m[] = {"João",   "Antônio", "Luiz",    "Marcos", "Otávio",
                                   "Sérgio", "Vítor",   "Caetano", "Fábio",  "Rogério"};
static const char *const br_f[] = {"Conceição", "Letícia", "Lúcia",  "Márcia", "Antônia",
                                   "Flávia",    "Cecília", "Mônica", "Élida",  "Joana"};
static const char *const br_l[] = {"Araújo",       "Gonçalves", "Ribeiro",    "Moreira",
                                   "da Conceição", "Pereira",   "Nascimento", "Lopes",
                                   "Monteiro",     "Gomes",     "da Mota",    "Peixoto"};
static const char *const br_s[] = {"Rua São Jorge", "Rua Dois",          "Avenida Brasil",
                                   "Rua da Paz",    "Rua Santa Luzia",   "Rua São Luiz",
                                   "Rua Principal", "Rua Rio de Janeiro"};
static const struct mockapi_city br_c[] = {{"São Paulo", "São Paulo"},
                                           {"Campinas", "São Paulo"},
                                           {"Rio de Janeiro", "Rio de Janeiro"},
                                           {"Niterói", "Rio de Janeiro"},
                                           {"Belo Horizonte", "Minas Gerais"},
                                           {"Uberlândia", "Minas Gerais"},
                                           {"Curitiba", "Paraná"},
                                           {"Salvador", "Bahia"},
                                           {"Fortaleza", "Ceará"},
                                           {"Goiânia", "Goiás"}};

/* CA */
static const char *const ca_m[] = {"Liam",  "Félix",    "Logan",   "Émile", "Nathan",
                                   "Jacob", "Benjamin", "Zachary", "Théo",  "Owen"};
static const char *const ca_f[] = {"Zoé",    "Léa",    "Chloe",    "Charlotte", "Emma",
                                   "Maëlle", "Olivia", "Juliette", "Ava",       "Noémie"};
static const char *const ca_l[] = {"Tremblay", "Gagnon", "Roy",    "Côté",   "Bouchard", "Gauthier",
                                   "Morin",    "Lavoie", "Fortin", "Wilson", "Martin",   "Brown"};
static const char *const ca_s[] = {"Main St",       "Rue Principale", "Dundas Rd", "King St",
                                   "Parliament St", "Pine Rd",        "Grand Ave", "Elgin St"};
static const struct mockapi_city ca_c[] = {{"Toronto", "Ontario"},
                                           {"Ottawa", "Ontario"},
                                           {"Montréal", "Québec"},
                                           {"Québec", "Québec"},
                                           {"Vancouver", "British Columbia"},
                                           {"Victoria", "British Columbia"},
                                           {"Calgary", "Alberta"},
                                           {"Edmonton", "Alberta"},
                                           {"Winnipeg", "Manitoba"},
                                           {"Halifax", "Nova Scotia"}};

/* CH */
static const char *const ch_m[] = {"Jérôme", "Luca",    "Noah",  "Marc", "Björn",
                                   "Loïc",   "Florian", "André", "Rémy", "Matteo"};
static const char *const ch_f[] = {"Mélanie", "Léonie",    "Chloé", "Anja", "Jana",
                                   "Elodie",  "Françoise", "Lara",  "Zoë",  "Célia"};
static const char *const ch_l[] = {"Müller",   "Meier",  "Schmid", "Keller", "Weber",   "Huber",
                                   "Fontaine", "Girard", "Perrin", "Rossi",  "Brunner", "Blanc"};
static const char *const ch_s[] = {"Bahnhofstrasse", "Rue de la Gare", "Dorfstrasse",
                                   "Rue du Château", "Hauptstrasse",   "Place du Marché",
                                   "Kirchweg",       "Via Nassa"};
static const struct mockapi_city ch_c[] = {{"Zürich", "Zürich"},     {"Winterthur", "Zürich"},
                                           {"Genève", "Genève"},     {"Lausanne", "Vaud"},
                                           {"Bern", "Bern"},         {"Biel/Bienne", "Bern"},
                                           {"Basel", "Basel-Stadt"}, {"Lugano", "Ticino"},
                                           {"Luzern", "Luzern"},     {"St. Gallen", "St. Gallen"}};

/* DE */
static const char *const de_m[] = {"Jürgen",  "Jörg",  "Lukas", "Maximilian", "Björn",
                                   "Günther", "Klaus", "Sönke", "Tobias",     "Ulrich"};
static const char *const de_f[] = {"Jördis", "Käthe", "Lena",    "Gülsen", "Sophie",
                                   "Bärbel", "Hanna", "Marlies", "Ute",    "Lotte"};
static const char *const de_l[] = {"Müller",  "Schröder", "Größ",     "Weiß",   "Jäger", "Köhler",
                                   "Schäfer", "Krüger",   "Hoffmann", "Becker", "Fuchs", "Böhm"};
static const char *const de_s[] = {"Schulstraße",  "Hauptstraße",   "Mühlenweg",     "Lindenstraße",
                                   "Gartenstraße", "Bahnhofstraße", "Am Sportplatz", "Birkenweg"};
static const struct mockapi_city de_c[] = {{"München", "Bayern"},
                                           {"Nürnberg", "Bayern"},
                                           {"Köln", "Nordrhein-Westfalen"},
                                           {"Düsseldorf", "Nordrhein-Westfalen"},
                                           {"Berlin", "Berlin"},
                                           {"Hamburg", "Hamburg"},
                                           {"Stuttgart", "Baden-Württemberg"},
                                           {"Dresden", "Sachsen"},
                                           {"Lübeck", "Schleswig-Holstein"},
                                           {"Göttingen", "Niedersachsen"}};

/* DK */
static const char *const dk_m[] = {"Søren",  "Mads",   "Frederik", "Jørgen", "Emil",
                                   "Magnus", "Rasmus", "Bjørn",    "Malthe", "Oliver"};
static const char *const dk_f[] = {"Ida",   "Freja", "Sofie", "Mathilde", "Maja",
                                   "Frida", "Asta",  "Signe", "Åse",      "Karoline"};
static const char *const dk_l[] = {"Jørgensen", "Nielsen",     "Hansen",     "Pedersen",
                                   "Andersen",  "Christensen", "Larsen",     "Sørensen",
                                   "Rasmussen", "Møller",      "Kristensen", "Thomsen"};
static const char *const dk_s[] = {"Vestergade", "Nørregade", "Søndergade", "Østergade",
                                   "Kirkevej",   "Møllevej",  "Skovvej",    "Åboulevarden"};
static const struct mockapi_city dk_c[] = {
    {"København", "Hovedstaden"}, {"Frederiksberg", "Hovedstaden"}, {"Aarhus", "Midtjylland"},
    {"Randers", "Midtjylland"},   {"Odense", "Syddanmark"},         {"Esbjerg", "Syddanmark"},
    {"Aalborg", "Nordjylland"},   {"Roskilde", "Sjælland"},         {"Næstved", "Sjælland"},
    {"Kolding", "Syddanmark"}};

/* ES */
static const char *const es_m[] = {"José",  "Jesús", "Ángel", "Raúl",    "Andrés",
                                   "Óscar", "Rubén", "Iván",  "Joaquín", "Ramón"};
static const char *const es_f[] = {"María",  "Lucía",  "Inés",  "Sofía",    "Mónica",
                                   "Begoña", "Ainhoa", "Rocío", "Verónica", "Nuria"};
static const char *const es_l[] = {"García", "Fernández", "González", "Rodríguez",
                                   "López",  "Martínez",  "Sánchez",  "Pérez",
                                   "Gómez",  "Núñez",     "Muñoz",    "Jiménez"};
static const char *const es_s[] = {
    "Calle Mayor",          "Calle de la Almudena", "Avenida de Andalucía", "Calle del Prado",
    "Paseo de Extremadura", "Calle de Alcalá",      "Calle de Toledo",      "Avenida de Castilla"};
static const struct mockapi_city es_c[] = {{"Madrid", "Comunidad de Madrid"},
                                           {"Móstoles", "Comunidad de Madrid"},
                                           {"Barcelona", "Cataluña"},
                                           {"Lleida", "Cataluña"},
                                           {"Sevilla", "Andalucía"},
                                           {"Málaga", "Andalucía"},
                                           {"Valencia", "Comunidad Valenciana"},
                                           {"Bilbao", "País Vasco"},
                                           {"Zaragoza", "Aragón"},
                                           {"Gijón", "Asturias"}};

/* FI */
static const char *const fi_m[] = {"Väinö", "Eino", "Onni",  "Juho",   "Jyrki",
                                   "Mikko", "Aatu", "Eelis", "Topias", "Niilo"};
static const char *const fi_f[] = {"Aino",  "Siiri",  "Elviira", "Pihla", "Ilona",
                                   "Venla", "Sävelä", "Kerttu",  "Iida",  "Linnea"};
static const char *const fi_l[] = {"Mäkelä",   "Hämäläinen", "Koskinen", "Heikkinen",
                                   "Järvinen", "Lehtonen",   "Niemi",    "Kärkkäinen",
                                   "Mäkinen",  "Virtanen",   "Salo",     "Häkkinen"};
static const char *const fi_s[] = {"Hämeenkatu",        "Mannerheimintie", "Pyynikintie",
                                   "Aleksanterinkatu",  "Satakunnankatu",  "Esplanadi",
                                   "Pispalan Valtatie", "Tehtaankatu"};
static const struct mockapi_city fi_c[] = {{"Helsinki", "Uusimaa"},
                                           {"Espoo", "Uusimaa"},
                                           {"Tampere", "Pirkanmaa"},
                                           {"Turku", "Southwest Finland"},
                                           {"Oulu", "Northern Ostrobothnia"},
                                           {"Jyväskylä", "Central Finland"},
                                           {"Kuopio", "Northern Savonia"},
                                           {"Lahti", "Päijät-Häme"},
                                           {"Pori", "Satakunta"},
                                           {"Hämeenlinna", "Kanta-Häme"}};

/* FR */
static const char *const fr_m[] = {"Théo",   "Loïc", "Mathéo", "Clément", "Noé",
                                   "Jérémy", "Hugo", "Gaëtan", "Anaël",   "Lucas"};
static const char *const fr_f[] = {"Léa",    "Chloé",   "Anaïs",  "Inès",      "Maëlys",
                                   "Éloïse", "Camille", "Océane", "Célestine", "Manon"};
static const char *const fr_l[] = {"Lefèvre",  "Dupont",    "Girard",  "Lemaire",
                                   "Rousseau", "Fabre",     "Mercier", "Boyer",
                                   "Garnier",  "Chevalier", "Lambert", "Fournier"};
static const char *const fr_s[] = {"Rue de la Mairie",     "Rue Principale",    "Place de l'Église",
                                   "Rue du Bât-d'Argent",  "Avenue des Ternes", "Rue Dugas-Montbel",
                                   "Rue de l'Abbé-Groult", "Quai Chauveau"};
static const struct mockapi_city fr_c[] = {{"Paris", "Paris"},
                                           {"Lyon", "Rhône"},
                                           {"Marseille", "Bouches-du-Rhône"},
                                           {"Nantes", "Loire-Atlantique"},
                                           {"Toulouse", "Haute-Garonne"},
                                           {"Nîmes", "Gard"},
                                           {"Besançon", "Doubs"},
                                           {"Orléans", "Loiret"},
                                           {"Saint-Étienne", "Loire"},
                                           {"Rennes", "Ille-et-Vilaine"}};

/* GB */
static const char *const gb_m[] = {"Harry", "Oliver", "George", "Alfie", "Callum",
                                   "Rhys",  "Ewan",   "Kieran", "Owen",  "Jamie"};
static const char *const gb_f[] = {"Amelia", "Isla",   "Poppy",   "Niamh",   "Freya",
                                   "Sienna", "Imogen", "Eleanor", "Siobhan", "Megan"};
static const char *const gb_l[] = {"Smith",   "Jones",  "Taylor", "Davies",  "Evans",  "Thomas",
                                   "Roberts", "Walker", "Wright", "O'Brien", "Hughes", "Murphy"};
static const char *const gb_s[] = {"High Street", "Station Road",  "Main Street", "Park Lane",
                                   "Church Lane", "Victoria Road", "Green Lane",  "Manor Road"};
static const struct mockapi_city gb_c[] = {
    {"London", "Greater London"}, {"Manchester", "Greater Manchester"}, {"Leeds", "West Yorkshire"},
    {"Bristol", "Avon"},          {"Cardiff", "South Glamorgan"},       {"Glasgow", "Strathclyde"},
    {"Edinburgh", "Lothian"},     {"Belfast", "County Antrim"},         {"York", "North Yorkshire"},
    {"Norwich", "Norfolk"}};

/* IE */
static const char *const ie_m[] = {"Seán",  "Eoin",   "Ciarán", "Pádraig", "Darragh",
                                   "Oisín", "Cathal", "Rónán",  "Colm",    "Liam"};
static const char *const ie_f[] = {"Aoife",   "Niamh", "Saoirse", "Siobhán", "Róisín",
                                   "Caoimhe", "Orla",  "Éabha",   "Clodagh", "Sinéad"};
static const char *const ie_l[] = {"Murphy",     "Kelly", "O'Sullivan", "Walsh",
                                   "Byrne",      "Ryan",  "O'Brien",    "Ó Briain",
                                   "Mac Giolla", "Doyle", "McCarthy",   "Ó Néill"};
static const char *const ie_s[] = {"Main Street",    "Church Street",  "The Crescent",
                                   "Patrick Street", "Grafton Street", "O'Connell Street",
                                   "Mill Road",      "Bóthar na Trá"};
static const struct mockapi_city ie_c[] = {{"Dublin", "Dublin City"},  {"Cork", "Cork"},
                                           {"Galway", "Galway"},       {"Limerick", "Limerick"},
                                           {"Waterford", "Waterford"}, {"Kilkenny", "Kilkenny"},
                                           {"Sligo", "Sligo"},         {"Tralee", "Kerry"},
                                           {"Athlone", "Westmeath"},   {"Ennis", "Clare"}};

/* IN */
static const char *const in_m[] = {"Aarav",  "Vihaan", "Arjun", "Reyansh", "Sai",
                                   "Ishaan", "Dhruv",  "Kabir", "Aditya",  "Rohan"};
static const char *const in_f[] = {"Saanvi", "Ananya", "Aadhya", "Diya",  "Pari",
                                   "Anika",  "Ishita", "Kavya",  "Meera", "Riya"};
static const char *const in_l[] = {"Sharma", "Verma", "Patel", "Reddy", "Nair",   "Iyer",
                                   "Gupta",  "Singh", "Kumar", "Menon", "Chopra", "Bhat"};
static const char *const in_s[] = {"MG Road",      "Nehru Nagar", "Gandhi Marg",  "Station Road",
                                   "Brigade Road", "Park Street", "Linking Road", "Anna Salai"};
static const struct mockapi_city in_c[] = {{"Mumbai", "Maharashtra"},    {"Pune", "Maharashtra"},
                                           {"Bengaluru", "Karnataka"},   {"Chennai", "Tamil Nadu"},
                                           {"Hyderabad", "Telangana"},   {"Kolkata", "West Bengal"},
                                           {"Jaipur", "Rajasthan"},      {"Kochi", "Kerala"},
                                           {"Lucknow", "Uttar Pradesh"}, {"Ahmedabad", "Gujarat"}};

/* IR: randomuser writes Iranian users in Persian script. */
static const char *const ir_m[] = {"آرمین", "محمدحسین", "امیرعلی", "پارسا", "علی",
                                   "رضا",   "مهدی",     "سینا",    "کیان",  "بردیا"};
static const char *const ir_f[] = {"نازنین زهرا", "فاطمه", "زهرا",  "مریم", "نیایش",
                                   "یسنا",        "آیناز", "ستایش", "هلیا", "پرنیا"};
static const char *const ir_l[] = {"رضایی", "محمدی", "حسینی", "احمدی", "کریمی",  "موسوی",
                                   "جعفری", "صادقی", "رحیمی", "نجاتی", "کامروا", "یزدانی"};
static const char *const ir_s[] = {"شهید رجایی", "کارگر",     "آزادی",        "فلسطین",
                                   "ولیعصر",     "پارک لاله", "میدان انقلاب", "شریعتی"};
static const struct mockapi_city ir_c[] = {
    {"تهران", "تهران"}, {"مشهد", "خراسان رضوی"},     {"اصفهان", "اصفهان"},
    {"شیراز", "فارس"},  {"تبریز", "آذربایجان شرقی"}, {"کرج", "البرز"},
    {"قم", "قم"},       {"اهواز", "خوزستان"},        {"کرمان", "کرمان"},
    {"رشت", "گیلان"}};

/* MX */
static const char *const mx_m[] = {"Ramón",  "José",   "Héctor",  "Jesús", "Sebastián",
                                   "Andrés", "Julián", "Rodrigo", "Tomás", "Emiliano"};
static const char *const mx_f[] = {"Ximena", "Valentina", "María José", "Fátima",  "Guadalupe",
                                   "Renata", "Itzel",     "Mónica",     "Dolores", "Citlali"};
static const char *const mx_l[] = {"Hernández", "García", "Martínez",  "López",
                                   "González",  "Pérez",  "Rodríguez", "Sánchez",
                                   "Ramírez",   "Peña",   "Ibarra",    "Gaitán"};
static const char *const mx_s[] = {"Calle Juárez",       "Avenida Hidalgo", "Privada Morelos",
                                   "Circunvalación Sur", "Calle Zaragoza",  "Avenida Reforma",
                                   "Callejón Allende",   "Andador Madero"};
static const struct mockapi_city mx_c[] = {
    {"Guadalajara", "Jalisco"},     {"Zapopan", "Jalisco"},
    {"Monterrey", "Nuevo León"},    {"Puebla", "Puebla"},
    {"Mérida", "Yucatán"},          {"Querétaro", "Querétaro"},
    {"Toluca", "Estado de México"}, {"Oaxaca", "Oaxaca"},
    {"Culiacán", "Sinaloa"},        {"San Luis Potosí", "San Luis Potosí"}};

/* NL */
static const char *const nl_m[] = {"Daan",   "Sem",  "Bram", "Jesse",   "Thijs",
                                   "Sjoerd", "Joël", "Ruud", "Maarten", "Wouter"};
static const char *const nl_f[] = {"Daniëlle", "Anouk", "Sanne", "Femke",  "Noëlle",
                                   "Eva",      "Lotte", "Ilse",  "Mirjam", "Inge"};
static const char *const nl_l[] = {"de Jong",  "Jansen",       "de Vries", "van den Berg",
                                   "van Dijk", "Bakker",       "Visser",   "Smit",
                                   "Meijer",   "van der Veen", "Mulder",   "Brouwer"};
static const char *const nl_s[] = {"Dorpsstraat",  "Kerkstraat",    "Molenweg",    "Stationsweg",
                                   "Schoolstraat", "Prinsengracht", "Julianalaan", "Beatrixstraat"};
static const struct mockapi_city nl_c[] = {
    {"Amsterdam", "Noord-Holland"}, {"Haarlem", "Noord-Holland"}, {"Rotterdam", "Zuid-Holland"},
    {"Den Haag", "Zuid-Holland"},   {"Utrecht", "Utrecht"},       {"Eindhoven", "Noord-Brabant"},
    {"Groningen", "Groningen"},     {"Maastricht", "Limburg"},    {"Zwolle", "Overijssel"},
    {"Leeuwarden", "Friesland"}};

/* NO */
static const char *const no_m[] = {"Bjørn",  "Øyvind", "Håkon",  "Ståle", "Jørgen",
                                   "Sindre", "Ørjan",  "Magnus", "Eirik", "Tormod"};
static const char *const no_f[] = {"Åse",  "Solveig", "Ingrid",  "Siri",     "Ragnhild",
                                   "Tuva", "Maja",    "Kjærsti", "Ragnfrid", "Live"};
static const char *const no_l[] = {"Ødegård",  "Håland", "Bråthen", "Sæther", "Løken", "Strøm",
                                   "Johansen", "Hansen", "Berg",    "Haugen", "Dahl",  "Aasen"};
static const char *const no_s[] = {"Kirkeveien", "Storgata",   "Skogveien",
                                   "Løkkeveien", "Fjellveien", "Bjørnstjerne Bjørnsons gate",
                                   "Sørlia",     "Nordre gate"};
static const struct mockapi_city no_c[] = {
    {"Oslo", "Oslo"},           {"Bergen", "Vestland"},
    {"Trondheim", "Trøndelag"}, {"Stavanger", "Rogaland"},
    {"Tromsø", "Troms"},        {"Drammen", "Buskerud"},
    {"Bodø", "Nordland"},       {"Ålesund", "Møre og Romsdal"},
    {"Fredrikstad", "Østfold"}, {"Lillehammer", "Innlandet"}};

/* NZ */
static const char *const nz_m[] = {"Oliver", "Jack",  "Nikau", "Tama",    "Hunter",
                                   "Mason",  "Jaxon", "Ari",   "Lachlan", "Wiremu"};
static const char *const nz_f[] = {"Aria",   "Isla",  "Mia", "Ruby", "Manaia",
                                   "Harper", "Aroha", "Ivy", "Hana", "Lily"};
static const char *const nz_l[] = {"Smith", "Wilson", "Williams", "Brown",    "Taylor",   "Walker",
                                   "Ngata", "Parata", "Harris",   "Thompson", "Te Rangi", "Clark"};
static const char *const nz_s[] = {"Queen Street",     "Great North Road", "Tawa Street",
                                   "Riddiford Street", "Kamo Road",        "Karangahape Road",
                                   "Cuba Street",      "Te Awe Awe Street"};
static const struct mockapi_city nz_c[] = {
    {"Auckland", "Auckland"},     {"Wellington", "Wellington"},  {"Christchurch", "Canterbury"},
    {"Hamilton", "Waikato"},      {"Tauranga", "Bay of Plenty"}, {"Dunedin", "Otago"},
    {"Napier", "Hawke'S Bay"},    {"Nelson", "Nelson"},          {"Whanganui", "Manawatu-Wanganui"},
    {"Invercargill", "Southland"}};

/* RS: randomuser writes Serbian users in Cyrillic. */
static const char *const rs_m[] = {"Милош", "Никола", "Душан", "Стефан", "Лазар",
                                   "Вук",   "Ђорђе",  "Урош",  "Марко",  "Небојша"};
static const char *const rs_f[] = {"Милица",  "Јована",  "Ана",     "Теодора", "Катарина",
                                   "Драгана", "Снежана", "Ђурђина", "Јелена",  "Зорица"};
static const char *const rs_l[] = {"Јовановић", "Петровић",   "Николић",  "Марковић",
                                   "Ђорђевић",  "Стојановић", "Илић",     "Станковић",
                                   "Павловић",  "Милошевић",  "Живковић", "Тодоровић"};
static const char *const rs_s[] = {"Кнеза Милоша",  "Булевар ослобођења", "Немањина",
                                   "Цара Душана",   "Његошева",           "Карађорђева",
                                   "Војводе Степе", "Светог Саве"};
static const struct mockapi_city rs_c[] = {
    {"Београд", "Београд"},       {"Нови Сад", "Јужнобачки"},   {"Ниш", "Нишавски"},
    {"Крагујевац", "Шумадијски"}, {"Суботица", "Севернобачки"}, {"Чачак", "Моравички"},
    {"Краљево", "Рашки"},         {"Ваљево", "Колубарски"},     {"Зрењанин", "Средњобанатски"},
    {"Пожаревац", "Браничевски"}};

/* TR */
static const char *const tr_m[] = {"Çağlar", "Oğuz",  "Ömer",   "Göktuğ", "Barış",
                                   "Eşref",  "Yiğit", "Tuğrul", "İsmail", "Şahin"};
static const char *const tr_f[] = {"Gülsüm", "Şeyma", "Büşra",  "Özlem", "İpek",
                                   "Çiğdem", "Ayşe",  "Nurşen", "Gökçe", "Dilşad"};
static const char *const tr_l[] = {"Öztürk", "Yılmaz", "Kaya",    "Demir",  "Şahin", "Çelik",
                                   "Yıldız", "Aydın",  "Özdemir", "Arslan", "Doğan", "Kılıç"};
static const char *const tr_s[] = {
    "Atatürk Sk",  "Kushimoto Sk",     "Necatibey Cd", "Bağdat Cd", "Fatih Sultan Mehmet Cd",
    "Istiklal Cd", "Talak Göktepe Cd", "Vatan Cd"};
static const struct mockapi_city tr_c[] = {
    {"İstanbul", "İstanbul"},   {"Ankara", "Ankara"},       {"İzmir", "İzmir"}, {"Bursa", "Bursa"},
    {"Antalya", "Antalya"},     {"Eskişehir", "Eskişehir"}, {"Muğla", "Muğla"}, {"Çorum", "Çorum"},
    {"Şanlıurfa", "Şanlıurfa"}, {"Kırıkkale", "Kırıkkale"}};

/* UA: randomuser writes Ukrainian users in Cyrillic. */
static const char *const ua_m[] = {"Олександр", "Андрій",  "Тарас", "Богдан",   "Ярослав",
                                   "Євген",     "Віталій", "Остап", "Григорій", "Юрій"};
static const char *const ua_f[] = {"Олена",   "Оксана",  "Ірина",   "Марія",  "Ганна",
                                   "Євгенія", "Соломія", "Людмила", "Їржина", "Тетяна"};
static const char *const ua_l[] = {"Шевченко",  "Коваленко", "Бондаренко", "Ткаченко",
                                   "Кравченко", "Олійник",   "Шевчук",     "Поліщук",
                                   "Ковальчук", "Гнатюк",    "Мельник",    "Ґудзь"};
static const char *const ua_s[] = {"Хрещатик", "Шевченка",     "Лесі Українки", "Франка",
                                   "Соборна",  "Грушевського", "Садова",        "Підгірна"};
static const struct mockapi_city ua_c[] = {
    {"Київ", "Київська"},           {"Харків", "Харківська"},  {"Одеса", "Одеська"},
    {"Дніпро", "Дніпропетровська"}, {"Львів", "Львівська"},    {"Запоріжжя", "Запорізька"},
    {"Вінниця", "Вінницька"},       {"Полтава", "Полтавська"}, {"Чернігів", "Чернігівська"},
    {"Ужгород", "Закарпатська"}};

/* US */
static const char *const us_m[] = {"James",   "Michael", "Robert", "David", "William",
                                   "Brandon", "Tyler",   "Dwayne", "Jesse", "Clinton"};
static const char *const us_f[] = {"Jennifer", "Jessica", "Ashley",  "Brittany", "Tiffany",
                                   "Kathy",    "Renee",   "Madison", "Jill",     "Stacy"};
static const char *const us_l[] = {"Smith", "Johnson", "Williams",  "Brown",  "Jones",  "Miller",
                                   "Davis", "Garcia",  "Rodriguez", "Wilson", "Howell", "Fuller"};
static const char *const us_s[] = {"Main St",        "Oak Lawn Ave",     "W Dallas St",
                                   "Pecan Acres Ln", "Hickory Creek Dr", "Spring St",
                                   "Cherry St",      "Lakeshore Rd"};
static const struct mockapi_city us_c[] = {{"Austin", "Texas"},       {"Dallas", "Texas"},
                                           {"Seattle", "Washington"}, {"Portland", "Oregon"},
                                           {"Denver", "Colorado"},    {"Albuquerque", "New Mexico"},
                                           {"Columbus", "Ohio"},      {"Raleigh", "North Carolina"},
                                           {"Fresno", "California"},  {"Syracuse", "New York"}};

const struct mockapi_nat mockapi_nats[MOCKAPI_NNAT] = {
    {"AU", "Australia", L(au_m), L(au_f), L(au_l), L(au_s), L(au_c), "N###", true, "0#-####-####",
     "04##-###-###", "TFN", "#########"},
    {"BR", "Brazil", L(br_m), L(br_f), L(br_l), L(br_s), L(br_c), "N####", true, "(##) ####-####",
     "(##) N####-####", "CPF", "###.###.###-##"},
    {"CA", "Canada", L(ca_m), L(ca_f), L(ca_l), L(ca_s), L(ca_c), "A#A #A#", false, "N##-###-####",
     "N##-###-####", "SIN", "#########"},
    {"CH", "Switzerland", L(ch_m), L(ch_f), L(ch_l), L(ch_s), L(ch_c), "N###", true,
     "0## ### ## ##", "07# ### ## ##", "AVS", "756.####.####.##"},
    {"DE", "Germany", L(de_m), L(de_f), L(de_l), L(de_s), L(de_c), "N####", true, "0###-#######",
     "017#-#######", "SVNR", "## ###### A ###"},
    {"DK", "Denmark", L(dk_m), L(dk_f), L(dk_l), L(dk_s), L(dk_c), "N###", true, "########",
     "########", "CPR", "######-####"},
    {"ES", "Spain", L(es_m), L(es_f), L(es_l), L(es_s), L(es_c), "N####", true, "9##-###-###",
     "6##-###-###", "DNI", "########-A"},
    {"FI", "Finland", L(fi_m), L(fi_f), L(fi_l), L(fi_s), L(fi_c), "N####", true, "0#-###-###",
     "04#-###-##-##", "HETU", "######-###A"},
    {"FR", "France", L(fr_m), L(fr_f), L(fr_l), L(fr_s), L(fr_c), "N####", true, "0#-##-##-##-##",
     "06-##-##-##-##", "INSEE", "N######## ### ##"},
    {"GB", "United Kingdom", L(gb_m), L(gb_f), L(gb_l), L(gb_s), L(gb_c), "AA# #AA", false,
     "0##### #####", "07### ######", "NINO", "AA ## ## ## A"},
    {"IE", "Ireland", L(ie_m), L(ie_f), L(ie_l), L(ie_s), L(ie_c), "N####", true, "0#1-###-####",
     "08#-###-####", "PPS", "#######A"},
    {"IN", "India", L(in_m), L(in_f), L(in_l), L(in_s), L(in_c), "N#####", true, "N#########",
     "N#########", "UIDAI", "############"},
    {"IR", "Iran", L(ir_m), L(ir_f), L(ir_l), L(ir_s), L(ir_c), "N####", true, "0##-########",
     "09##-###-####", "", NULL},
    {"MX", "Mexico", L(mx_m), L(mx_f), L(mx_l), L(mx_s), L(mx_c), "N####", true, "(6##) ### ####",
     "(6##) ### ####", "NSS", "## ## ## #### #"},
    {"NL", "Netherlands", L(nl_m), L(nl_f), L(nl_l), L(nl_s), L(nl_c), "N### AA", false,
     "(0##) #######", "(06) ########", "BSN", "########"},
    {"NO", "Norway", L(no_m), L(no_f), L(no_l), L(no_s), L(no_c), "####", false, "########",
     "4#######", "FN", "###### #####"},
    {"NZ", "New Zealand", L(nz_m), L(nz_f), L(nz_l), L(nz_s), L(nz_c), "N###", true,
     "(###)-###-####", "(###)-###-####", "", NULL},
    {"RS", "Serbia", L(rs_m), L(rs_f), L(rs_l), L(rs_s), L(rs_c), "N####", true, "0##-####-###",
     "06#-####-###", "SID", "#########"},
    {"TR", "Turkey", L(tr_m), L(tr_f), L(tr_l), L(tr_s), L(tr_c), "N####", true, "(###)-###-####",
     "(###)-###-####", "", NULL},
    {"UA", "Ukraine", L(ua_m), L(ua_f), L(ua_l), L(ua_s), L(ua_c), "N####", true, "(0##) N##-####",
     "(09#) N##-##-##", "", NULL},
    {"US", "United States", L(us_m), L(us_f), L(us_l), L(us_s), L(us_c), "N####", true,
     "(###) ###-####", "(###) ###-####", "SSN", "###-##-####"},
};

const struct mockapi_tz mockapi_tzs[] = {
    {"-12:00", "Eniwetok, Kwajalein"},
    {"-11:00", "Midway Island, Samoa"},
    {"-10:00", "Hawaii"},
    {"-9:00", "Alaska"},
    {"-8:00", "Pacific Time (US & Canada)"},
    {"-7:00", "Mountain Time (US & Canada)"},
    {"-6:00", "Central Time (US & Canada), Mexico City"},
    {"-5:00", "Eastern Time (US & Canada), Bogota, Lima"},
    {"-4:00", "Atlantic Time (Canada), Caracas, La Paz"},
    {"-3:30", "Newfoundland"},
    {"-3:00", "Brazil, Buenos Aires, Georgetown"},
    {"-2:00", "Mid-Atlantic"},
    {"-1:00", "Azores, Cape Verde Islands"},
    {"0:00", "Western Europe Time, London, Lisbon, Casablanca"},
    {"+1:00", "Brussels, Copenhagen, Madrid, Paris"},
    {"+2:00", "Kaliningrad, South Africa"},
    {"+3:00", "Baghdad, Riyadh, Moscow, St. Petersburg"},
    {"+3:30", "Tehran"},
    {"+4:00", "Abu Dhabi, Muscat, Baku, Tbilisi"},
    {"+4:30", "Kabul"},
    {"+5:00", "Ekaterinburg, Islamabad, Karachi, Tashkent"},
    {"+5:30", "Bombay, Calcutta, Madras, New Delhi"},
    {"+5:45", "Kathmandu"},
    {"+6:00", "Almaty, Dhaka, Colombo"},
    {"+7:00", "Bangkok, Hanoi, Jakarta"},
    {"+8:00", "Beijing, Perth, Singapore, Hong Kong"},
    {"+9:00", "Tokyo, Seoul, Osaka, Sapporo, Yakutsk"},
    {"+9:30", "Adelaide, Darwin"},
    {"+10:00", "Eastern Australia, Guam, Vladivostok"},
    {"+11:00", "Magadan, Solomon Islands, New Caledonia"},
    {"+12:00", "Auckland, Wellington, Fiji, Kamchatka"},
};
const int mockapi_ntzs = (int)(sizeof(mockapi_tzs) / sizeof(mockapi_tzs[0]));

const char *const mockapi_adjectives[] = {"happy",  "silver", "beautiful", "lazy",   "heavy",
                                          "tiny",   "big",    "ticklish",  "sad",    "orange",
                                          "yellow", "black",  "red",       "purple", "white",
                                          "brown",  "blue",   "green",     "crazy",  "organic"};
const int mockapi_nadjectives = (int)(sizeof(mockapi_adjectives) / sizeof(mockapi_adjectives[0]));

const char *const mockapi_animals[] = {
    "dog",     "cat",   "bird",    "fish",      "lion",    "tiger",   "bear",
    "wolf",    "swan",  "peacock", "frog",      "rabbit",  "goose",   "koala",
    "leopard", "zebra", "ladybug", "butterfly", "gorilla", "panda",   "elephant",
    "ostrich", "snake", "monkey",  "duck",      "mouse",   "meercat", "buffalo"};
const int mockapi_nanimals = (int)(sizeof(mockapi_animals) / sizeof(mockapi_animals[0]));

const char *const mockapi_passwords[] = {
    "password", "sunshine", "dragon",   "monkey",   "letmein", "qwerty",  "shadow",   "master",
    "football", "baseball", "hunter",   "trustno1", "access",  "mustang", "superman", "batman",
    "starwars", "freedom",  "whatever", "cowboys",  "pepper",  "summer",  "tigger",   "cheese",
    "scooter",  "zxcvbn",   "iloveyou", "princess", "131313",  "abc123"};
const int mockapi_npasswords = (int)(sizeof(mockapi_passwords) / sizeof(mockapi_passwords[0]));
