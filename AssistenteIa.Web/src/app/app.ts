import { ChangeDetectionStrategy, Component, inject } from '@angular/core';
import { Router, RouterLink, RouterLinkActive, RouterOutlet } from '@angular/router';
import { AuthService } from './auth/auth.service';

@Component({
  selector: 'app-root',
  imports: [RouterOutlet, RouterLink, RouterLinkActive],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <header class="topbar">
      <a class="brand" routerLink="/tasks">AssistenteIa</a>
      @if (auth.signedIn()) {
        <nav aria-label="Main">
          <a routerLink="/tasks" routerLinkActive="active" [routerLinkActiveOptions]="{ exact: false }">Tasks</a>
          <a routerLink="/dashboard" routerLinkActive="active">Dashboard</a>
        </nav>
        <button type="button" class="link" (click)="signOut()">Sign out</button>
      }
    </header>
    <main>
      <router-outlet />
    </main>
  `,
})
export class App {
  protected readonly auth = inject(AuthService);
  private readonly router = inject(Router);

  protected signOut(): void {
    this.auth.signOut();
    void this.router.navigate(['/sign-in']);
  }
}
