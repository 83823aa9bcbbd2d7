/*
 * agent_config.h - the sdv-agent configuration file (JSON), parsed into the lib/agent and lib/net
 * configurations. See docs/agent.md for the fields.
 */
#ifndef SDV_AGENT_CONFIG_H
#define SDV_AGENT_CONFIG_H

#include <sdv/agent.h>
#include <sdv/net.h>

/* Configuration files are small: a few dozen secondaries and paths. */
#define AGENT_CONFIG_LEN_MAX (256u * 1024u)

struct agent_file_config {
    json_t *doc; /* owns every string below */
    char *dir;   /* the config file's directory: relative paths are resolved against it */
    char *state_dir, *key_path, *director_root_path, *image_root_path;
    char *tls_ca, *tls_cert, *tls_key; /* mTLS files (NULL: not configured) */
    const char *identity_header;       /* header name, or NULL when no identity header is sent */
    struct sdv_agent_secondary *secondaries;
    struct sdv_agent_config agent; /* strings borrowed from doc */
    struct sdv_net_config net;
    long poll_interval_s;
    /* A/B installation ("install" object, sdv/install.h), or NULL. */
    struct sdv_install_config *install;
    /* Run with /bin/sh -c when a reboot is required ("reboot_command"), or NULL: with the
     * file-backed bootloader the agent then reboots by simulation (sdv_install_boot_sim). */
    const char *reboot_command;
    int simulated_reboot;
};

/* Parses path into *c. On failure errmsg says which field is wrong. Free with
 * agent_config_free() (also after a failure). */
enum sdv_err agent_config_load(const char *path, struct agent_file_config *c, char *errmsg,
                               size_t errmsg_len);
void agent_config_free(struct agent_file_config *c);

#endif /* SDV_AGENT_CONFIG_H */
