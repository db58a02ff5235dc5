#pragma once
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/// Produces one message through rd_kafka_producev(), which Swift cannot call because it is variadic and
/// its RD_KAFKA_V_* arguments are function-like macros.
///
/// - key may be NULL (no key); value may be NULL only when value_len is 0.
/// - msgflags should contain RD_KAFKA_MSG_F_COPY so librdkafka copies key and value before returning: the caller's
///   buffers are only borrowed for the duration of this call.
/// - opaque is stored as the message's msg_opaque (rkmessage->_private) and comes back in the delivery report.
/// - Header ownership: when headers is not NULL and this returns RD_KAFKA_RESP_ERR_NO_ERROR, librdkafka owns the
///   list and frees it with the message; on any error the caller still owns it and must rd_kafka_headers_destroy it.
///
/// Non-blocking unless msgflags contains RD_KAFKA_MSG_F_BLOCK (never passed by KafkaBus): when the local queue is full
/// it returns RD_KAFKA_RESP_ERR__QUEUE_FULL instead of waiting.
static inline rd_kafka_resp_err_t storefront_rd_kafka_produce(
    rd_kafka_t *rk,
    const char *topic,
    int32_t partition,
    int msgflags,
    const void *key,
    size_t key_len,
    const void *value,
    size_t value_len,
    rd_kafka_headers_t *headers,
    void *opaque
) {
    if (headers != NULL) {
        return rd_kafka_producev(
            rk,
            RD_KAFKA_V_TOPIC(topic),
            RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_MSGFLAGS(msgflags),
            RD_KAFKA_V_KEY(key, key_len),
            RD_KAFKA_V_VALUE((void *)value, value_len),
            RD_KAFKA_V_HEADERS(headers),
            RD_KAFKA_V_OPAQUE(opaque),
            RD_KAFKA_V_END
        );
    }
    return rd_kafka_producev(
        rk,
        RD_KAFKA_V_TOPIC(topic),
        RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_MSGFLAGS(msgflags),
        RD_KAFKA_V_KEY(key, key_len),
        RD_KAFKA_V_VALUE((void *)value, value_len),
        RD_KAFKA_V_OPAQUE(opaque),
        RD_KAFKA_V_END
    );
}
