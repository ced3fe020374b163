/* Client assertions for certificate sign-in: a JWT signed with the
 * certificate's key (Microsoft identity platform "certificate
 * credentials"). For RSA keys PS256 with an x5t#S256 header (SHA-256
 * thumbprint) is the default; RS256 with x5t (SHA-1 thumbprint) is
 * selectable for older tenants and Azure Stack. EC P-256 keys sign ES256
 * (as go-azure-sdk does), with the thumbprint header the choice names. */
#ifndef AMLSEC_PROVIDERS_ARM_JWT_H
#define AMLSEC_PROVIDERS_ARM_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "util/base64.h" /* base64url_encode, base64_decode: used with JWTs */
#include "util/buf.h"
#include "util/errbuf.h"

enum jwt_alg { JWT_PS256, JWT_RS256 };

struct jwt_signer;

/* Loads a certificate and its RSA or EC P-256 private key from data: PEM (certificate
 * and key blocks, the key optionally encrypted) or PKCS#12 (PFX), which is
 * tried when no PEM block is present. password may be NULL. name is used in
 * messages. Free with jwt_signer_free. */
int jwt_signer_load(struct jwt_signer **out, const void *data, size_t len, const char *password,
                    const char *name, struct errbuf *err);
/* The same from a file. */
int jwt_signer_load_file(struct jwt_signer **out, const char *path, const char *password,
                         struct errbuf *err);
void jwt_signer_free(struct jwt_signer *s);
/* The JWS alg the signer uses for the choice alg: ES256 for EC keys. */
const char *jwt_signer_alg(const struct jwt_signer *s, enum jwt_alg alg);

/* A signed client assertion: aud = token endpoint, iss = sub = client id,
 * a fresh jti, nbf = iat = now, exp = now + 10 min. *out is malloc'd;
 * caller frees (and should wipe it). */
int jwt_client_assertion(char **out, const struct jwt_signer *s, enum jwt_alg alg,
                         const char *client_id, const char *audience, int64_t now,
                         struct errbuf *err);

#endif
