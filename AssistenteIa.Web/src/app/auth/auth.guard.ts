import { inject } from '@angular/core';
import { type CanActivateFn, Router } from '@angular/router';
import { AuthService } from './auth.service';

/** Pages behind the API key: without one, go to the key screen and come back afterwards. */
export const authGuard: CanActivateFn = (_route, state) =>
  inject(AuthService).signedIn() || inject(Router).createUrlTree(['/sign-in'], { queryParams: { returnUrl: state.url } });

/** After a 401: to the key screen, coming back to where the user was (unless already on the key screen). */
export function returnToSignIn(router: Router): void {
  if (!router.url.startsWith('/sign-in')) {
    void router.navigate(['/sign-in'], { queryParams: { returnUrl: router.url } });
  }
}
