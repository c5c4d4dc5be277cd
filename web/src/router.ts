import { createRouter } from 'sv-router';

// Every page is its own chunk, loaded when first visited. The paths of
// mailed links (verify-email, reset-password, invitations/accept,
// confirm-/revert-email-change) are fixed by the server's mails.
export const { p, navigate, isActive, route } = createRouter({
  '/': () => import('./pages/Home.svelte'),
  '/sign-in': () => import('./pages/SignIn.svelte'),
  '/sign-up': () => import('./pages/SignUp.svelte'),
  '/forgot-password': () => import('./pages/ForgotPassword.svelte'),
  '/reset-password': () => import('./pages/ResetPassword.svelte'),
  '/verify-email': () => import('./pages/VerifyEmail.svelte'),
  '/invitations/accept': () => import('./pages/AcceptInvitation.svelte'),
  '/confirm-email-change': () => import('./pages/ConfirmEmailChange.svelte'),
  '/revert-email-change': () => import('./pages/RevertEmailChange.svelte'),
  '/account': () => import('./pages/Account.svelte'),
  '/admin/users': () => import('./pages/AdminUsers.svelte'),
  '/admin/flags': () => import('./pages/AdminFlags.svelte'),
  '/admin/marketplace': () => import('./pages/AdminMarketplace.svelte'),
  '/admin/system': () => import('./pages/AdminSystem.svelte'),
  '/orgs/:id': () => import('./pages/Org.svelte'),
  '/workflows': () => import('./pages/Workflows.svelte'),
  '/workflows/:id': () => import('./pages/Studio.svelte'),
  '/workflows/:id/runs': () => import('./pages/Runs.svelte'),
  '/runs/:id': () => import('./pages/Run.svelte'),
  '/audit': () => import('./pages/Audit.svelte'),
  '/billing': () => import('./pages/Billing.svelte'),
  '/billing/success': () => import('./pages/BillingResult.svelte'),
  '/billing/cancelled': () => import('./pages/BillingResult.svelte'),
  '*': () => import('./pages/NotFound.svelte'),
});
