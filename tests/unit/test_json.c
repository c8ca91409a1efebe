/* test_json.c: the strict JSON reader: tokens, trees, escapes, numbers, malformed and truncated
 * input, limits. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"
#include "runtime/json.h"

/* Parses s (copied into a buffer of exactly its length, so the sanitizer sees any read past
 * the end). */
static int parse(const char *s, struct rm_json_value *v, char *err, size_t errlen)
{
    size_t n = strlen(s);
    char *copy = malloc(n ? n : 1);
    memcpy(copy, s, n);
    int rc = rm_json_parse(copy, n, NULL, v, err, errlen);
    free(copy);
    return rc;
}

static void test_scalars(void)
{
    struct rm_json_value v;
    char err[128];
    CU_ASSERT_EQUAL(parse("true", &v, err, sizeof err), 0);
    CU_ASSERT_EQUAL(v.type, RM_JSON_TRUE);
    CU_ASSERT_EQUAL(parse(" false ", &v, err, sizeof err), 0);
    CU_ASSERT_EQUAL(v.type, RM_JSON_FALSE);
    CU_ASSERT_EQUAL(parse("\r\n\tnull\n", &v, err, sizeof err), 0);
    CU_ASSERT_EQUAL(v.type, RM_JSON_NULL);
    CU_ASSERT_EQUAL(parse("-12.5e1", &v, err, sizeof err), 0);
    CU_ASSERT_EQUAL(v.type, RM_JSON_NUMBER);
    CU_ASSERT_DOUBLE_EQUAL(v.u.number, -125.0, 1e-12);
    CU_ASSERT_EQUAL(parse("\"hi\"", &v, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(rm_json_string(&v), "hi");
    CU_ASSERT_EQUAL(v.u.string.len, 2);
    rm_json_value_free(&v);
    CU_ASSERT_EQUAL(v.type, RM_JSON_NULL);
}

static void test_tree(void)
{
    const char *doc = "{\"traceEvents\": [ {\"ts\": 1.5, \"name\": \"map 1\", \"args\": {}},\n"
                      "  [], {}, null, [1, [2, [3]]] ], \"n\": 1, \"n\": 2, \"\": \"empty key\"}";
    struct rm_json_value v;
    char err[128] = "x";
    CU_ASSERT_EQUAL_FATAL(parse(doc, &v, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(err, "");
    CU_ASSERT_EQUAL(v.type, RM_JSON_OBJECT);
    CU_ASSERT_EQUAL(v.u.object.n, 4);
    const struct rm_json_value *ev = rm_json_get(&v, "traceEvents");
    CU_ASSERT_EQUAL_FATAL(ev && ev->type == RM_JSON_ARRAY, 1);
    CU_ASSERT_EQUAL(ev->u.array.n, 5);
    const struct rm_json_value *e0 = &ev->u.array.items[0];
    double ts = 0, n = 0;
    CU_ASSERT(rm_json_number(rm_json_get(e0, "ts"), &ts));
    CU_ASSERT_DOUBLE_EQUAL(ts, 1.5, 0);
    CU_ASSERT_STRING_EQUAL(rm_json_string(rm_json_get(e0, "name")), "map 1");
    CU_ASSERT_EQUAL(rm_json_get(e0, "args")->type, RM_JSON_OBJECT);
    CU_ASSERT_EQUAL(rm_json_get(e0, "args")->u.object.n, 0);
    CU_ASSERT_PTR_NULL(rm_json_get(e0, "missing"));
    CU_ASSERT_EQUAL(ev->u.array.items[1].type, RM_JSON_ARRAY);
    CU_ASSERT_EQUAL(ev->u.array.items[1].u.array.n, 0);
    CU_ASSERT_EQUAL(ev->u.array.items[3].type, RM_JSON_NULL);
    const struct rm_json_value *deep = &ev->u.array.items[4];
    CU_ASSERT_EQUAL(deep->u.array.items[1].u.array.items[1].u.array.items[0].u.number, 3.0);
    CU_ASSERT(rm_json_number(rm_json_get(&v, "n"), &n)); /* a repeated name: the last wins */
    CU_ASSERT_EQUAL(n, 2.0);
    CU_ASSERT_STRING_EQUAL(rm_json_string(rm_json_get(&v, "")), "empty key");
    CU_ASSERT_PTR_NULL(rm_json_get(e0 + 1, "ts")); /* not an object */
    CU_ASSERT_FALSE(rm_json_number(rm_json_get(e0, "name"), &n));
    CU_ASSERT_PTR_NULL(rm_json_string(rm_json_get(e0, "ts")));
    rm_json_value_free(&v);
}

/* Parses a one-string document and checks its decoded bytes. */
static void check_string(const char *doc, const char *want, size_t want_len)
{
    struct rm_json_value v;
    char err[128];
    int rc = parse(doc, &v, err, sizeof err);
    CU_ASSERT_EQUAL(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "\n  %s: %s\n", doc, err);
        return;
    }
    CU_ASSERT_EQUAL(v.type, RM_JSON_STRING);
    CU_ASSERT_EQUAL(v.u.string.len, want_len);
    CU_ASSERT(v.u.string.len == want_len && memcmp(v.u.string.s, want, want_len) == 0);
    CU_ASSERT_EQUAL(v.u.string.s[v.u.string.len], '\0');
    rm_json_value_free(&v);
}

static void test_escapes(void)
{
    check_string("\"a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\"", "a\"b\\c/d\be\ff\ng\rh\ti", 17);
    check_string("\"\\u0041\\u00e9\\u20AC\"", "A\xc3\xa9\xe2\x82\xac", 6);
    check_string("\"\\uD83D\\uDE00!\"", "\xf0\x9f\x98\x80!", 5); /* a surrogate pair */
    check_string("\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf", 4);   /* U+10FFFF */
    check_string("\"a\\u0000b\"", "a\0b", 3);
    check_string("\"\"", "", 0);
    check_string("\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\"",
                 "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 15); /* raw UTF-8 passes through */
    check_string("\"\x7f\"", "\x7f", 1);
}

/* Parses a document that must fail with rc; checks the error names the byte offset at. */
static void check_fails(const char *doc, int want, size_t at, const char *words)
{
    struct rm_json_value v;
    char err[128] = "";
    char where[32];
    int rc = parse(doc, &v, err, sizeof err);
    snprintf(where, sizeof where, "at byte %zu", at);
    CU_ASSERT_EQUAL(rc, want);
    CU_ASSERT_EQUAL(v.type, RM_JSON_NULL);
    bool ok = strstr(err, where) != NULL && strstr(err, words) != NULL;
    CU_ASSERT(ok);
    if (rc != want || !ok)
        fprintf(stderr, "\n  %s: got \"%s\", wanted '%s' and '%s'\n", doc, err, words, where);
    rm_json_value_free(&v);
}

static void check_bad(const char *doc, size_t at, const char *words)
{
    check_fails(doc, RM_EINVAL, at, words);
}

static void test_bad_strings(void)
{
    check_bad("\"abc", 4, "end of input in a string");
    check_bad("\"a\x01\"", 2, "control character 0x01");
    check_bad("\"a\nb\"", 2, "control character 0x0a");
    check_bad("\"\\x\"", 2, "expected an escape letter, found 'x'");
    check_bad("\"\\u12G4\"", 5, "hex digit");
    check_bad("\"\\u12", 5, "end of input");
    check_bad("\"\\", 2, "end of input in an escape");
    check_bad("\"x\\uDC00\"", 2, "lone low surrogate");
    check_bad("\"\\uD800\"", 1, "not followed by a low one");
    check_bad("\"\\uD800\\u0041\"", 7, "expected a low surrogate");
    check_bad("\"\xc0\x80\"", 1, "invalid UTF-8");         /* overlong NUL */
    check_bad("\"\xe0\x80\xaf\"", 1, "invalid UTF-8");     /* overlong '/' */
    check_bad("\"\xed\xa0\x80\"", 1, "invalid UTF-8");     /* an encoded surrogate */
    check_bad("\"\xf4\x90\x80\x80\"", 1, "invalid UTF-8"); /* above U+10FFFF */
    check_bad("\"\xf5\x80\x80\x80\"", 1, "invalid UTF-8");
    check_bad("\"ab\x80\"", 3, "invalid UTF-8"); /* a lone continuation byte */
    check_bad("\"\xc3\"", 1, "invalid UTF-8");   /* cut short by the quote */
    check_bad("\"\xe2\x82", 1, "invalid UTF-8"); /* cut short by the end */
    check_bad("'single'", 0, "expected a value, found '''");
}

static void test_numbers(void)
{
    static const struct {
        const char *doc;
        double want;
    } good[] = {{"0", 0},
                {"-0", -0.0},
                {"7", 7},
                {"-1", -1},
                {"1.25", 1.25},
                {"1e3", 1000},
                {"1E+3", 1000},
                {"25e-2", 0.25},
                {"123456789012", 123456789012.0},
                {"1e-400", 0},
                {"1.7976931348623157e308", 1.7976931348623157e308},
                {"0.1", 0.1},
                {"[5678.0]", 5678.0}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct rm_json_value v;
        char err[128];
        CU_ASSERT_EQUAL_FATAL(parse(good[i].doc, &v, err, sizeof err), 0);
        const struct rm_json_value *n = v.type == RM_JSON_ARRAY ? &v.u.array.items[0] : &v;
        CU_ASSERT_EQUAL(n->type, RM_JSON_NUMBER);
        CU_ASSERT_DOUBLE_EQUAL(n->u.number, good[i].want, 1e-9 * (1 + fabs(good[i].want)));
        rm_json_value_free(&v);
    }
    char longnum[600] = "0.";
    memset(longnum + 2, '1', 500);
    longnum[502] = '\0';
    struct rm_json_value v;
    char err[128];
    CU_ASSERT_EQUAL(parse(longnum, &v, err, sizeof err), 0);
    CU_ASSERT_DOUBLE_EQUAL(v.u.number, 1.0 / 9, 1e-12);

    check_bad("01", 1, "leading zero");
    check_bad("-01", 2, "leading zero");
    check_bad("1.", 2, "expected a digit");
    check_bad("1.e3", 2, "expected a digit");
    check_bad(".5", 0, "expected a value, found '.'");
    check_bad("+1", 0, "expected a value, found '+'");
    check_bad("-", 1, "expected a digit");
    check_bad("- 1", 1, "expected a digit");
    check_bad("1e", 2, "expected a digit");
    check_bad("1e+", 3, "expected a digit");
    check_bad("0x10", 1, "expected the end of input, found 'x'");
    check_bad("1e400", 0, "number out of range");
    check_bad("[-1e999]", 1, "number out of range");
    check_bad("NaN", 0, "expected a value");
    check_bad("Infinity", 0, "expected a value");
    check_bad("[1 2]", 3, "expected ',' or ']', found '2'");
}

static void test_malformed(void)
{
    check_bad("", 0, "unexpected end of input (expected a value)");
    check_bad("  \n ", 4, "unexpected end of input");
    check_bad("{\"a\":1,}", 7, "expected a string (an object key), found '}'");
    check_bad("[1,]", 3, "expected a value, found ']'");
    check_bad("[,1]", 1, "expected a value, found ','");
    check_bad("{\"a\" 1}", 5, "expected ':', found '1'");
    check_bad("{\"a\":}", 5, "expected a value, found '}'");
    check_bad("{a:1}", 1, "expected a string (an object key), found 'a'");
    check_bad("{1:1}", 1, "object key");
    check_bad("[1}", 2, "expected ',' or ']', found '}'");
    check_bad("{\"a\":1]", 6, "expected ',' or '}', found ']'");
    check_bad("{} {}", 3, "expected the end of input, found '{'");
    check_bad("[] x", 3, "expected the end of input");
    check_bad("tru", 3, "unexpected end of input in 'true'");
    check_bad("[nul", 4, "unexpected end of input in 'null'");
    check_bad("trux", 0, "expected a value, found 't'");
    check_bad("truex", 4, "expected the end of input, found 'x'");
    check_bad("[true false]", 6, "expected ',' or ']'");
    check_bad("// c\n1", 0, "expected a value, found '/'");
    check_bad("[1] // c", 4, "expected the end of input");
    check_bad("\xef\xbb\xbf{}", 0, "expected a value, found byte 0xef"); /* a BOM */
    check_bad("[\x0c]", 1, "found byte 0x0c"); /* form feed is not white space */
    check_bad("{\"traceEvents\":[{\"ph\":\"X\",}]}", 26, "object key");
}

/* Every proper prefix of a valid document fails cleanly; the whole document parses. */
static void test_truncated(void)
{
    const char *doc =
        "{\"traceEvents\":[{\"name\":\"map \\u00e9 \\uD83D\\uDE00\",\"ph\":\"X\",\"ts\":-1.5e-3,"
        "\"dur\":5678.0,\"args\":{\"ok\":true,\"no\":false,\"nil\":null,\"l\":[1,2,{}]}}],"
        "\"otherData\":{\"kernel\":\"wordcount\"}}";
    size_t n = strlen(doc);
    for (size_t i = 0; i <= n; i++) {
        char *copy = malloc(i ? i : 1);
        memcpy(copy, doc, i);
        struct rm_json_value v;
        char err[128] = "";
        int rc = rm_json_parse(copy, i, NULL, &v, err, sizeof err);
        if (i < n) {
            char where[32];
            snprintf(where, sizeof where, "at byte %zu", i);
            CU_ASSERT_EQUAL(rc, RM_EINVAL);
            bool ok = strstr(err, "end of input") && strstr(err, where);
            CU_ASSERT(ok);
            if (!ok)
                fprintf(stderr, "\n  cut at %zu: %s\n", i, err);
        } else {
            CU_ASSERT_EQUAL(rc, 0);
        }
        rm_json_value_free(&v);
        free(copy);
    }
}

/* "[[[...1...]]]" nested d deep. */
static char *nested(size_t d)
{
    char *s = malloc(2 * d + 2);
    memset(s, '[', d);
    s[d] = '1';
    memset(s + d + 1, ']', d);
    s[2 * d + 1] = '\0';
    return s;
}

static void test_depth(void)
{
    struct rm_json_value v;
    char err[128];
    char *ok = nested(64), *deep = nested(65), *huge = nested(200000);
    CU_ASSERT_EQUAL(parse(ok, &v, err, sizeof err), 0);
    rm_json_value_free(&v);
    check_fails(deep, RM_EMSGSIZE, 64, "nesting deeper than 64 levels");
    check_fails(huge, RM_EMSGSIZE, 64, "nesting deeper than 64 levels");
    struct rm_json_limits lim = {.max_depth = 3};
    CU_ASSERT_EQUAL(rm_json_parse("[[[1]]]", 7, &lim, &v, err, sizeof err), 0);
    rm_json_value_free(&v);
    CU_ASSERT_EQUAL(rm_json_parse("[[{\"a\":1}]]", 11, &lim, &v, err, sizeof err), 0);
    rm_json_value_free(&v);
    CU_ASSERT_EQUAL(rm_json_parse("[[[[1]]]]", 9, &lim, &v, err, sizeof err), RM_EMSGSIZE);
    CU_ASSERT_STRING_EQUAL(err, "nesting deeper than 3 levels at byte 3");
    free(ok);
    free(deep);
    free(huge);
}

static void test_limits(void)
{
    struct rm_json_value v;
    char err[128];
    struct rm_json_limits lim = {.max_string = 4, .max_values = 4};
    CU_ASSERT_EQUAL(rm_json_parse("\"abcd\"", 6, &lim, &v, err, sizeof err), 0);
    rm_json_value_free(&v);
    CU_ASSERT_EQUAL(rm_json_parse("\"abcde\"", 7, &lim, &v, err, sizeof err), RM_EMSGSIZE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "string longer than 4 bytes"));
    CU_ASSERT_EQUAL(rm_json_parse("{\"abcde\":1}", 11, &lim, &v, err, sizeof err), RM_EMSGSIZE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "string longer than 4 bytes"));
    CU_ASSERT_EQUAL(rm_json_parse("\"\\u20AC\\u20AC\"", 14, &lim, &v, err, sizeof err),
                    RM_EMSGSIZE); /* 6 bytes decoded */
    CU_ASSERT_EQUAL(rm_json_parse("[1,2,3]", 7, &lim, &v, err, sizeof err), 0);
    rm_json_value_free(&v);
    CU_ASSERT_EQUAL(rm_json_parse("[1,2,3,4]", 9, &lim, &v, err, sizeof err), RM_EMSGSIZE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "more than 4 values"));
    CU_ASSERT_EQUAL(v.type, RM_JSON_NULL);
}

static void expect_tok(struct rm_json_reader *r, enum rm_json_tok kind, const char *str)
{
    struct rm_json_token t;
    CU_ASSERT_EQUAL_FATAL(rm_json_next(r, &t), 0);
    CU_ASSERT_EQUAL(t.kind, kind);
    if (str && t.kind == kind)
        CU_ASSERT(t.len == strlen(str) && memcmp(t.str, str, t.len) == 0);
}

/* The pull reader: token order, offsets, skipping, EOF repeated. */
static void test_pull(void)
{
    const char *doc = " {\"a\": [1, {\"b\": [true]}], \"c\": \"d\", \"e\": null} ";
    struct rm_json_reader r;
    struct rm_json_token t;
    CU_ASSERT_EQUAL_FATAL(rm_json_reader_init(&r, doc, strlen(doc), NULL), 0);
    CU_ASSERT_EQUAL(rm_json_next(&r, &t), 0);
    CU_ASSERT_EQUAL(t.kind, RM_JSON_TOK_BEGIN_OBJECT);
    CU_ASSERT_EQUAL(t.offset, 1);
    expect_tok(&r, RM_JSON_TOK_KEY, "a");
    CU_ASSERT_EQUAL(rm_json_next(&r, &t), 0);
    CU_ASSERT_EQUAL(t.kind, RM_JSON_TOK_BEGIN_ARRAY);
    CU_ASSERT_EQUAL(rm_json_skip_value(&r, &t), 0);
    expect_tok(&r, RM_JSON_TOK_KEY, "c");
    expect_tok(&r, RM_JSON_TOK_STRING, "d");
    expect_tok(&r, RM_JSON_TOK_KEY, "e");
    CU_ASSERT_EQUAL(rm_json_next(&r, &t), 0);
    CU_ASSERT_EQUAL(t.kind, RM_JSON_TOK_NULL);
    CU_ASSERT_EQUAL(t.offset, strlen(doc) - 6);
    expect_tok(&r, RM_JSON_TOK_END_OBJECT, NULL);
    expect_tok(&r, RM_JSON_TOK_EOF, NULL);
    expect_tok(&r, RM_JSON_TOK_EOF, NULL);
    CU_ASSERT_STRING_EQUAL(rm_json_reader_error(&r), "");
    rm_json_reader_close(&r);
    rm_json_reader_close(&r); /* twice is allowed */
}

/* One array element at a time, as a trace is read. */
static void test_pull_elements(void)
{
    const char *doc = "[{\"x\":1},{\"x\":2},{\"x\":3} oops]";
    struct rm_json_reader r;
    struct rm_json_token t;
    double sum = 0, x;
    CU_ASSERT_EQUAL_FATAL(rm_json_reader_init(&r, doc, strlen(doc), NULL), 0);
    expect_tok(&r, RM_JSON_TOK_BEGIN_ARRAY, NULL);
    int rc;
    while ((rc = rm_json_next(&r, &t)) == 0 && t.kind != RM_JSON_TOK_END_ARRAY) {
        struct rm_json_value v;
        CU_ASSERT_EQUAL_FATAL(rm_json_read_value(&r, &t, &v), 0);
        CU_ASSERT(rm_json_number(rm_json_get(&v, "x"), &x));
        sum += x;
        rm_json_value_free(&v);
    }
    CU_ASSERT_EQUAL(sum, 6.0);
    CU_ASSERT_EQUAL(rc, RM_EINVAL);
    CU_ASSERT_STRING_EQUAL(rm_json_reader_error(&r), "expected ',' or ']', found 'o' at byte 25");
    CU_ASSERT_EQUAL(rm_json_reader_offset(&r), 25);
    CU_ASSERT_EQUAL(rm_json_next(&r, &t), RM_EINVAL); /* sticky */
    struct rm_json_value v;
    CU_ASSERT_EQUAL(rm_json_read_value(&r, &t, &v), RM_EINVAL);
    CU_ASSERT_EQUAL(v.type, RM_JSON_NULL);
    rm_json_reader_close(&r);

    /* A token that does not start a value cannot be read as one. */
    CU_ASSERT_EQUAL_FATAL(rm_json_reader_init(&r, "[]", 2, NULL), 0);
    expect_tok(&r, RM_JSON_TOK_BEGIN_ARRAY, NULL);
    CU_ASSERT_EQUAL(rm_json_next(&r, &t), 0);
    CU_ASSERT_EQUAL(rm_json_read_value(&r, &t, &v), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_json_skip_value(&r, &t), RM_EINVAL);
    rm_json_reader_close(&r);
}

/* Random bytes, and random mutations of a valid document, never crash or hang. */
static void test_garbage(void)
{
    const char *doc = "{\"a\":[1,-2.5e3,\"x\\u00e9\\n\",true,null,{\"b\":[]}],\"c\":false}";
    size_t n = strlen(doc);
    const char alphabet[] = "{}[]:,\"\\u0123456789-+.eE tfnrl\xc3\xa9\x80";
    unsigned seed = 12345;
    int ok = 0;
    for (int i = 0; i < 20000; i++) {
        char buf[64];
        size_t len = n;
        memcpy(buf, doc, n);
        for (int k = 0; k < 1 + i % 4; k++) {
            seed = seed * 1103515245u + 12345u;
            buf[(seed >> 8) % len] = alphabet[(seed >> 20) % (sizeof alphabet - 1)];
        }
        if (i % 3 == 0)
            len = (seed >> 4) % (n + 1);
        char *copy = malloc(len ? len : 1);
        memcpy(copy, buf, len);
        struct rm_json_value v;
        char err[128];
        int rc = rm_json_parse(copy, len, NULL, &v, err, sizeof err);
        CU_ASSERT(rc == 0 || (rc == RM_EINVAL && strstr(err, "at byte") != NULL));
        ok += rc == 0;
        rm_json_value_free(&v);
        free(copy);
    }
    CU_ASSERT(ok > 0); /* some mutations keep the document valid */
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("json", NULL, NULL);
    CU_add_test(s, "scalars", test_scalars);
    CU_add_test(s, "nested documents", test_tree);
    CU_add_test(s, "string escapes and UTF-8", test_escapes);
    CU_add_test(s, "bad strings", test_bad_strings);
    CU_add_test(s, "numbers", test_numbers);
    CU_add_test(s, "malformed documents name the byte", test_malformed);
    CU_add_test(s, "every truncation rejected", test_truncated);
    CU_add_test(s, "nesting depth limit", test_depth);
    CU_add_test(s, "string and tree size limits", test_limits);
    CU_add_test(s, "pull reader tokens", test_pull);
    CU_add_test(s, "pull reader, one element at a time", test_pull_elements);
    CU_add_test(s, "mutated input never crashes", test_garbage);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
