/* Tests of the frame accumulator shared by the ECU link and broker decoders: bytes in any split
 * are taken only up to the header and then up to the announced payload, never past them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h needs the headers above; keep it last among the system headers. */
/* clang-format off */
#include <cmocka.h>
/* clang-format on */

#include <sdv/common.h>

/* Two frames back to back, fed one byte at a time: a 4-byte header and a 3-byte payload, then
 * an empty payload. Each call takes at most what the frame still misses. */
static void test_byte_at_a_time(void **state)
{
    static const uint8_t in[] = {'H', 'D', 'R', '1', 'a', 'b', 'c', 'H', 'D', 'R', '2'};
    struct sdv_frame_acc a;
    size_t i = 0;

    (void)state;
    sdv_frame_acc_init(&a, 4);
    while (a.header_got < a.header_len)
        i += sdv_frame_acc_header(&a, in + i, 1);
    assert_int_equal(i, 4);
    assert_memory_equal(a.header, "HDR1", 4);
    assert_int_equal(sdv_frame_acc_expect(&a, 3), SDV_OK);
    assert_int_equal(sdv_frame_acc_header(&a, in + i, 1), 0); /* the header is complete */
    while (a.payload_got < a.payload_len)
        i += sdv_frame_acc_payload(&a, in + i, 1);
    assert_int_equal(i, 7);
    assert_memory_equal(a.payload, "abc", 3);
    assert_int_equal(sdv_frame_acc_payload(&a, in + i, 1), 0); /* not into the next frame */
    sdv_frame_acc_next(&a);
    assert_int_equal(sdv_frame_acc_header(&a, in + i, sizeof(in) - i), 4);
    assert_memory_equal(a.header, "HDR2", 4);
    assert_int_equal(sdv_frame_acc_expect(&a, 0), SDV_OK);
    assert_int_equal(a.payload_got, a.payload_len);
    sdv_frame_acc_free(&a);
    assert_null(a.payload);
    sdv_frame_acc_free(NULL);
}

/* One feed holding more than the frame: the payload takes exactly its length, and a smaller
 * later payload reuses the buffer. */
static void test_bounded_takes_and_reuse(void **state)
{
    static const uint8_t in[] = "0123456789";
    struct sdv_frame_acc a;
    const uint8_t *buf;

    (void)state;
    sdv_frame_acc_init(&a, 2);
    assert_int_equal(sdv_frame_acc_header(&a, in, 10), 2);
    assert_int_equal(sdv_frame_acc_expect(&a, 5), SDV_OK);
    assert_int_equal(sdv_frame_acc_payload(&a, in + 2, 8), 5);
    assert_memory_equal(a.payload, "23456", 5);
    buf = a.payload;
    sdv_frame_acc_next(&a);
    assert_int_equal(a.header_got, 0);
    assert_int_equal(sdv_frame_acc_header(&a, in, 2), 2);
    assert_int_equal(sdv_frame_acc_expect(&a, 4), SDV_OK);
    assert_ptr_equal(a.payload, buf);
    assert_int_equal(sdv_frame_acc_payload(&a, in + 6, 2), 2);
    assert_int_equal(sdv_frame_acc_payload(&a, in + 8, 9), 2);
    assert_memory_equal(a.payload, "6789", 4);
    sdv_frame_acc_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_byte_at_a_time),
            cmocka_unit_test(test_bounded_takes_and_reuse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
