/*
 * uptane_fixed_keys.h - fixed TEST-ONLY key pairs (PEM) shared by the seed writer
 * (uptane_fuzz_seeds.c) and the manifest fuzz target (fuzz/fuzz_uptane_manifest.c), so the
 * committed seeds verify under the fuzzer's keys and reach the deep checks. Never use these keys
 * for anything else: the private halves are public.
 */
#ifndef SDV_UPTANE_FIXED_KEYS_H
#define SDV_UPTANE_FIXED_KEYS_H

/* The vehicle of the seeds: VIN, primary serial and three ECUs (ed25519, ECDSA P-256, RSA). */
#define UFK_VIN            "WSDV0FUZZ00000001"
#define UFK_PRIMARY_SERIAL "ecu-a"

#define UFK_PRIMARY_PEM                                                  \
    "-----BEGIN PRIVATE KEY-----\n"                                      \
    "MC4CAQAwBQYDK2VwBCIEIEb0k6kk3Meh3ytsx6+2x7rYN8vqodWMfW3M9i72hTzb\n" \
    "-----END PRIVATE KEY-----\n"

#define UFK_ECU_A_PEM                                                    \
    "-----BEGIN PRIVATE KEY-----\n"                                      \
    "MC4CAQAwBQYDK2VwBCIEIJct1d0yhJwmfUYIGsqjDqfvxjb6y8wACJi1Vu3G8lqS\n" \
    "-----END PRIVATE KEY-----\n"

#define UFK_ECU_B_PEM                                                    \
    "-----BEGIN PRIVATE KEY-----\n"                                      \
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg5lNdYSMIFnNCeZn9\n" \
    "q/5/KaRS0CiDe/l3bws6a/7rKMehRANCAATbTbCGURrhUzWVdk05Urrsr0lyomGA\n" \
    "oHfD6Je9UCSV7R+uU9kQqxSMC6jiCn/eOXh/gjGWEsW1X4E++VWWIsI0\n"         \
    "-----END PRIVATE KEY-----\n"

#define UFK_ECU_C_PEM                                                    \
    "-----BEGIN PRIVATE KEY-----\n"                                      \
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCYn1bVXe6k9V9m\n" \
    "tzrgWdSwnRizJact15XVCbTHfh3qRsKhBPfVjuucx5qu3BSvtzyqz9E1p2S3AT5k\n" \
    "eAomnufYIn2dqh8uclYv/FlyXm5jHm61UswAJoXBy/jDS2Y4XkZFGB8x6enVY8Iu\n" \
    "HGxIJ+z8+wxZX9YSOs48KWNuvMZudjFmzHxHP4yLYyGrNoda2hUPJ8iBjfr2LOAH\n" \
    "4QTDsRMfDAdpzxggu0zZawEMe5vC6wmxc8vVR23gJsKtb1LZuxoEKFWeJ1DY/xxO\n" \
    "8FS+jv6n/85gOnc4qsKY2OhEqGMg2Z81cfda9f1eB4FbZadKkiDTO2L8Uepj9Ctl\n" \
    "ggU0bbxnAgMBAAECggEAQPib44rwO6MFMNnRo446P9EwoZrm11oOO7m9Dqu+mmvz\n" \
    "EM7nni8QWBaU39lqqP7tQZ3kZt3SvyE1aVm8oIJHGjhcl1DDo2cjD5xyi4Btp55d\n" \
    "7KzJkUrU6BIn3SNs6ZQgf+tr5Di6xY+JK04IPpNYjL1mnWlx3SLRhsTrwkl0g7L+\n" \
    "l64iHarBq27KixvBhyh0yNI07gsqUH6V6tslI6tIrQYjSPcMiINntfCgV5lEKEOK\n" \
    "qzUX0Gh3rOSkDxCrdmLekG0gH4VW9oyGMUwua7mOtB9/B60R7QvpVp1ecrgFA519\n" \
    "k3e57FE52vNvRvlYRidfZ0iChuSLberc8EVDS8CaSQKBgQDN59LBhjVi+Jd9Sacf\n" \
    "/IHinz0mZqDLGXE4ibwSes83lQJcmxmDVkiuKJSB4Q5OsAYsXG8ZEsDoB7S0JFtv\n" \
    "QduLUHGv/M9FDJb9pLcGkwDhXP7+bDrF66vqK6Q9Z7+ZtE5mOTrb6u4PFM08nYwu\n" \
    "wSD8RZlpLWyPn8FJMVte6OURowKBgQC9wPGoEtqLltjWXQr4daR1e7w5OMG1Pz87\n" \
    "08O8g+qeERBMcOQpuHj8ZtJPV61QlVU+Pd6eLHDimheOBQwfD+ah7p3k90gcuE6R\n" \
    "LriiLUfJNRuFqbpKD553gVvbfEqYhP49z+k1eoSJ6Jx+uto4k227v6bSjLyS2tLw\n" \
    "7g3SzF1+bQKBgE2vRy7Iid/bVpxoa2uAAykTVyjj04qNANCJ9rEqMIAR8iAqTEfn\n" \
    "B+jdWppd5N3/P3UBMtFM6Aci0SSeCvlA6an4Icx6H2E3zMfJm1wZnl1ojrRC9TGz\n" \
    "Jttkt8SLHhjJlEKxGOncCxEZkg1qi3cgWmeTgrvR7YGKjowk2QpH6BTtAoGARTX6\n" \
    "7rLxw7hhns6REc7XDYL0RGrPPKy1A71Zx4jWKpFOwJLspcsDVgyq6QWx0ZKmZO1s\n" \
    "JYVQJ1bNAKAWq73BAY9nR/xp8Q/ImGvSLFUXuewE/dvKdvj7c9tbBdNv4fGgSitr\n" \
    "hHYLocGWUyMUNU6Q18ovrtxma6olBnvNzvV7pIECgYEAs6J1rzsVYQO/wV/5/M5q\n" \
    "tsWVkONf4Y3UPzuYoKJltUHszjPQCb74+CYNroN+cb7dxse2904NtflkWZdHOahQ\n" \
    "B9kX0Sn+HbulW6xAsY04cxpVEws35lfOBpZRDJRhSGljOgalFCNRXKlVDXAqoTwj\n" \
    "MrxhF4dsIGzeOM706fbnI6Q=\n"                                         \
    "-----END PRIVATE KEY-----\n"

#endif /* SDV_UPTANE_FIXED_KEYS_H */
