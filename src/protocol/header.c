/* protocol/header.c — see header.h. */
#include "protocol/header.h"

#include "protocol/gen/api.h"

gregor_err proto_request_header_write(buf_writer *w, int16_t api_key, int16_t version,
                                      int32_t correlation_id, buf_slice client_id)
{
    if (!proto_api_get(api_key))
        return GREGOR_ERR_UNSUPPORTED;
    buf_write_i16(w, api_key);
    buf_write_i16(w, version);
    buf_write_i32(w, correlation_id);
    buf_write_string(w, client_id);
    if (proto_request_header_version(api_key, version) >= 2)
        buf_write_empty_tags(w);
    return w->err;
}

gregor_err proto_request_header_read(buf_reader *r, proto_request_header *out)
{
    out->api_key = buf_read_i16(r);
    out->api_version = buf_read_i16(r);
    out->correlation_id = buf_read_i32(r);
    out->client_id = buf_read_string(r, true);
    if (buf_reader_ok(r) && proto_api_get(out->api_key) &&
        proto_request_header_version(out->api_key, out->api_version) >= 2)
        buf_skip_tags(r);
    if (!buf_reader_ok(r) && !r->field)
        r->field = "RequestHeader";
    return r->err;
}

gregor_err proto_response_header_read(buf_reader *r, int16_t api_key, int16_t version,
                                      int32_t *correlation_id)
{
    *correlation_id = buf_read_i32(r);
    if (proto_response_header_version(api_key, version) >= 1)
        buf_skip_tags(r);
    if (!buf_reader_ok(r) && !r->field)
        r->field = "ResponseHeader";
    return r->err;
}

void proto_response_header_write(buf_writer *w, int16_t api_key, int16_t version, int32_t correlation_id)
{
    buf_write_i32(w, correlation_id);
    if (proto_response_header_version(api_key, version) >= 1)
        buf_write_empty_tags(w);
}
