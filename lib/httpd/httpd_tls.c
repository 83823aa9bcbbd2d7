/*
 * httpd_tls.c - the client identity of an mTLS connection. libmicrohttpd terminates TLS with
 * GnuTLS and hands out the session; verifying the peer certificate and reading its subject CN
 * takes GnuTLS calls, so this file (and only this file) uses the GnuTLS API. It implements no
 * cryptography: chain, validity period and key purpose are checked by GnuTLS against the CA
 * that MHD_OPTION_HTTPS_MEM_TRUST installed.
 */
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <string.h>

#include "httpd_int.h"

enum sdv_err httpd_tls_identity(struct MHD_Connection *conn, char *out, size_t out_len,
                                const char **why)
{
    const union MHD_ConnectionInfo *ci;
    gnutls_session_t session;
    const gnutls_datum_t *peers;
    unsigned int peers_len = 0, status = 0;
    gnutls_typed_vdata_st purpose;
    gnutls_x509_crt_t crt = NULL;
    char extra[8];
    size_t size;
    enum sdv_err err;
    int rc;

    out[0] = '\0';
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    session = ci != NULL ? (gnutls_session_t)ci->tls_session : NULL;
    if (session == NULL) {
        *why = "no TLS session";
        return SDV_EINVAL;
    }
    if (gnutls_certificate_type_get(session) != GNUTLS_CRT_X509) {
        *why = "client certificate is not X.509";
        return SDV_ENOENT;
    }
    peers = gnutls_certificate_get_peers(session, &peers_len);
    if (peers == NULL || peers_len == 0) {
        *why = "no client certificate";
        return SDV_ENOENT;
    }
    /* A certificate of the device CA made for another purpose (a server's) is no identity. */
    memset(&purpose, 0, sizeof(purpose));
    purpose.type = GNUTLS_DT_KEY_PURPOSE_OID;
    purpose.data = (unsigned char *)(uintptr_t)GNUTLS_KP_TLS_WWW_CLIENT;
    rc = gnutls_certificate_verify_peers(session, &purpose, 1, &status);
    if (rc < 0 || status != 0) {
        if (rc >= 0 && (status & GNUTLS_CERT_SIGNER_NOT_FOUND))
            *why = "client certificate not issued by the device CA";
        else if (rc >= 0 && (status & (GNUTLS_CERT_EXPIRED | GNUTLS_CERT_NOT_ACTIVATED)))
            *why = "client certificate expired or not yet valid";
        else if (rc >= 0 && (status & GNUTLS_CERT_PURPOSE_MISMATCH))
            *why = "certificate not issued for client authentication";
        else
            *why = "client certificate does not verify";
        return SDV_ESIG;
    }
    if (gnutls_x509_crt_init(&crt) < 0) {
        *why = "out of memory";
        return SDV_ENOMEM;
    }
    err = SDV_EINVAL;
    *why = "client certificate has no usable common name";
    if (gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) < 0)
        goto out;
    size = out_len;
    rc = gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, out, &size);
    if (rc < 0) {
        out[0] = '\0';
        goto out;
    }
    /* Two CNs would make the identity ambiguous. */
    size = sizeof(extra);
    rc = gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 1, 0, extra, &size);
    if (rc != GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE || !httpd_identity_ok(out)) {
        out[0] = '\0';
        goto out;
    }
    err = SDV_OK;
    *why = NULL;
out:
    gnutls_x509_crt_deinit(crt);
    return err;
}
