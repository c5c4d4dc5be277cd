// Passkeys (WebAuthn) in the browser: the API speaks the JSON form of the
// ceremonies (binary fields base64url-encoded); navigator.credentials
// speaks ArrayBuffers. These turn one into the other.

export function passkeysSupported(): boolean {
  return typeof window !== 'undefined' && typeof window.PublicKeyCredential === 'function' && !!navigator.credentials;
}

export function fromB64url(s: string): ArrayBuffer {
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(s.length / 4) * 4, '=');
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out.buffer;
}

export function toB64url(b: ArrayBuffer | ArrayBufferView | null | undefined): string {
  if (!b) return '';
  const bytes = b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  let bin = '';
  for (const x of bytes) bin += String.fromCharCode(x);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

type Descriptor = { id: string; type: PublicKeyCredentialType; transports?: AuthenticatorTransport[] };
type CreationJSON = Omit<PublicKeyCredentialCreationOptions, 'challenge' | 'user' | 'excludeCredentials'> & {
  challenge: string;
  user: { id: string; name: string; displayName: string };
  excludeCredentials?: Descriptor[];
};
type RequestJSON = Omit<PublicKeyCredentialRequestOptions, 'challenge' | 'allowCredentials'> & {
  challenge: string;
  allowCredentials?: Descriptor[];
};

const descriptors = (list?: Descriptor[]) => (list ?? []).map((d) => ({ ...d, id: fromB64url(d.id) }));

// creationOptions decodes the options of POST /me/passkeys/register/begin
// for navigator.credentials.create.
export function creationOptions(publicKey: unknown): PublicKeyCredentialCreationOptions {
  const o = publicKey as CreationJSON;
  return {
    ...o,
    challenge: fromB64url(o.challenge),
    user: { ...o.user, id: fromB64url(o.user.id) },
    excludeCredentials: descriptors(o.excludeCredentials),
  };
}

// requestOptions decodes the options of POST /auth/passkey/begin for
// navigator.credentials.get.
export function requestOptions(publicKey: unknown): PublicKeyCredentialRequestOptions {
  const o = publicKey as RequestJSON;
  return { ...o, challenge: fromB64url(o.challenge), allowCredentials: descriptors(o.allowCredentials) };
}

// registrationJSON is the attestation the API's register/finish takes.
export function registrationJSON(c: PublicKeyCredential): Record<string, unknown> {
  const r = c.response as AuthenticatorAttestationResponse;
  return {
    id: c.id,
    rawId: toB64url(c.rawId),
    type: c.type,
    authenticatorAttachment: c.authenticatorAttachment ?? undefined,
    clientExtensionResults: c.getClientExtensionResults(),
    response: {
      clientDataJSON: toB64url(r.clientDataJSON),
      attestationObject: toB64url(r.attestationObject),
      transports: typeof r.getTransports === 'function' ? r.getTransports() : [],
    },
  };
}

// assertionJSON is the assertion the API's passkey/finish takes.
export function assertionJSON(c: PublicKeyCredential): Record<string, unknown> {
  const r = c.response as AuthenticatorAssertionResponse;
  return {
    id: c.id,
    rawId: toB64url(c.rawId),
    type: c.type,
    authenticatorAttachment: c.authenticatorAttachment ?? undefined,
    clientExtensionResults: c.getClientExtensionResults(),
    response: {
      clientDataJSON: toB64url(r.clientDataJSON),
      authenticatorData: toB64url(r.authenticatorData),
      signature: toB64url(r.signature),
      userHandle: r.userHandle ? toB64url(r.userHandle) : undefined,
    },
  };
}

// browserRefusal explains a DOMException from navigator.credentials, or
// returns null for any other error.
export function browserRefusal(e: unknown): string | null {
  if (!(e instanceof DOMException)) return null;
  switch (e.name) {
    case 'NotAllowedError':
      return 'The passkey prompt was closed or timed out. Try again.';
    case 'InvalidStateError':
      return 'This device already holds a passkey for your account.';
    case 'SecurityError':
      return 'The browser refused passkeys for this address: open the dashboard by its host name.';
    default:
      return e.message;
  }
}
