import type { components } from './api/schema';

export type Gateway = components['schemas']['Gateway'];
export type GatewayEvent = components['schemas']['GatewayWorkspaceJob'];
export type GatewaySend = components['schemas']['GatewaySendRecord'];

// A setting of a gateway type: a credential (sealed, write-only) or a
// config value. key is the API's field name.
export type Setting = {
  key: string;
  label: string;
  hint: string;
  required: boolean;
  placeholder?: string;
  // generate makes a fresh random value the user copies to the sender
  // (a webhook's signing secret, WhatsApp's verify token).
  generate?: 'whsec' | 'token';
};

export type GatewayType = {
  type: string;
  label: string;
  credentials: Setting[];
  config: Setting[];
  // before: where the credentials come from (shown while creating).
  before: string[];
  // after: what to do with the inbound URL once the gateway exists.
  after: string[];
};

const defaultChat: Setting = {
  key: 'defaultChatId',
  label: 'Default chat id',
  hint: 'Where test messages go when no chat is given.',
  required: false,
};

// The types and exactly the fields the API asks of each (docs/gateways.md).
export const gatewayTypes: GatewayType[] = [
  {
    type: 'TELEGRAM',
    label: 'Telegram',
    credentials: [
      { key: 'botToken', label: 'Bot token', hint: 'From @BotFather: /newbot, or /token for an existing bot.', required: true, placeholder: '123456789:AA…' },
    ],
    config: [{ ...defaultChat, hint: 'A chat or group id (a negative number for groups), for test messages.' }],
    before: [
      'In Telegram, open a chat with @BotFather and send /newbot (or /token for a bot you have).',
      'Copy the token it answers, 123456789:AA…, into Bot token below.',
      'Choose how the bot receives messages: a webhook needs this server at a public https URL; long polling works anywhere.',
    ],
    after: [
      'Connect registers the webhook with Telegram for you (or, when polling, removes any webhook and starts polling).',
      'Send your bot a message in Telegram: it appears under Inbound events.',
    ],
  },
  {
    type: 'DISCORD',
    label: 'Discord',
    credentials: [{ key: 'botToken', label: 'Bot token', hint: 'Developer Portal → your application → Bot → Reset Token.', required: true }],
    config: [
      { key: 'publicKey', label: 'Public key', hint: 'Developer Portal → your application → General Information → Public Key (64 hex characters).', required: true },
      { ...defaultChat, hint: 'A channel id (right-click a channel → Copy Channel ID, with Developer Mode on).' },
    ],
    before: [
      'Open discord.com/developers/applications and create or pick an application.',
      'General Information: copy the Public Key. Bot: reset and copy the token.',
      'Invite the bot to your server (OAuth2 → URL Generator, scopes bot and applications.commands).',
    ],
    after: ['Connect sets this URL as the application\'s Interactions Endpoint URL for you.'],
  },
  {
    type: 'SLACK',
    label: 'Slack',
    credentials: [
      { key: 'botToken', label: 'Bot token', hint: 'api.slack.com/apps → your app → OAuth & Permissions → Bot User OAuth Token.', required: true, placeholder: 'xoxb-…' },
      { key: 'signingSecret', label: 'Signing secret', hint: 'Basic Information → App Credentials → Signing Secret.', required: true },
    ],
    config: [{ ...defaultChat, hint: 'A channel id such as C0123456789 (channel details → About).' }],
    before: [
      'Open api.slack.com/apps and create or pick an app; add the bot scopes chat:write and app_mentions:read.',
      'Install it to your workspace, then copy the Bot User OAuth Token (xoxb-…) and the Signing Secret.',
    ],
    after: [
      'In your app\'s Event Subscriptions, turn events on and paste this URL as the Request URL (Slack checks it at once).',
      'Subscribe to the bot events message.channels and app_mention, and save.',
    ],
  },
  {
    type: 'WHATSAPP',
    label: 'WhatsApp',
    credentials: [
      { key: 'accessToken', label: 'Access token', hint: 'Meta developer console → your app → WhatsApp → API Setup (a system user token for production).', required: true },
      { key: 'appSecret', label: 'App secret', hint: 'App settings → Basic → App Secret.', required: true },
      { key: 'verifyToken', label: 'Verify token', hint: 'Any string you choose; you paste it into the webhook settings too.', required: true, generate: 'token' },
    ],
    config: [{ key: 'phoneNumberId', label: 'Phone number id', hint: 'WhatsApp → API Setup → Phone number ID.', required: true }],
    before: [
      'Open developers.facebook.com, create a Business app and add the WhatsApp product.',
      'From API Setup copy the access token and the phone number id; from App settings → Basic the app secret.',
    ],
    after: [
      'WhatsApp → Configuration → Webhook: paste this URL as the Callback URL and your verify token, then Verify and save.',
      'Subscribe the webhook to the messages field.',
    ],
  },
  {
    type: 'WEBHOOK',
    label: 'Signed webhook',
    credentials: [
      { key: 'signingSecret', label: 'Signing secret', hint: 'whsec_ and 24 to 64 base64 bytes: generate one and give it to your sender.', required: true, generate: 'whsec' },
    ],
    config: [{ key: 'url', label: 'Outbound URL', hint: 'Where messages sent through this gateway are posted (optional).', required: false, placeholder: 'https://…' }],
    before: ['Generate a signing secret and keep a copy for the system that will post to this gateway.'],
    after: [
      'Your sender posts JSON to this URL, signed as Standard Webhooks: webhook-id, webhook-timestamp and webhook-signature (v1, HMAC-SHA256 with the secret).',
    ],
  },
];

export function typeOf(t: string): GatewayType | undefined {
  return gatewayTypes.find((g) => g.type === t);
}

export function typeLabel(t: string): string {
  return typeOf(t)?.label ?? t;
}

// randomSecret makes a value for a generate setting.
export function randomSecret(kind: 'whsec' | 'token'): string {
  const b = new Uint8Array(kind === 'whsec' ? 32 : 24);
  crypto.getRandomValues(b);
  if (kind === 'whsec') return 'whsec_' + btoa(String.fromCharCode(...b));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export function statusClass(s: string): string {
  return s === 'CONNECTED' || s === 'SENT' || s === 'PROCESSED' ? 'good' : s === 'ERROR' || s === 'FAILED' ? 'bad' : '';
}

// cfg reads a string setting of a gateway's config (typed loosely by the
// schema).
export function cfg(g: Gateway, key: string): string {
  const v = (g.config as Record<string, unknown> | null)?.[key];
  return typeof v === 'string' ? v : '';
}

// receiveWhy explains a Telegram gateway's receive mode: chosen in its
// config, or following the server's public URL.
export function receiveWhy(g: Gateway): string {
  const chosen = cfg(g, 'receive');
  const https = g.inboundUrl.startsWith('https://');
  if (g.receive === 'polling') {
    if (chosen === 'polling') return 'Chosen for this gateway: the server asks Telegram for new messages (getUpdates), no public URL needed.';
    return 'This server has no public https URL (its inbound URL is ' + new URL(g.inboundUrl).origin + '), and Telegram delivers webhooks only to https, so the gateway polls Telegram for new messages.';
  }
  if (chosen === 'webhook' && !https) return 'Chosen for this gateway, but this server\'s URL is not https: Telegram will refuse the webhook. Choose long polling, or set a public https URL.';
  if (chosen === 'webhook') return 'Chosen for this gateway: Telegram posts each message to the inbound URL.';
  return 'This server has a public https URL, so Telegram posts each message to the inbound URL.';
}
