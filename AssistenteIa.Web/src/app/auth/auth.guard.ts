import { inject } from '@angular/core';
import { type CanActivateFn, Router } from '@angular/router';
import { AuthService } from './auth.service';

/** Pages behind the API key: without one, go to the key screen and come back afterwards. */
export const authGuard: CanActivateFn = (_route, state) =>
  inject(AuthService).signedIn() || inject(Router).createUrlTree(['/sign-in'], { queryParams: { returnUrl: state.url } });
