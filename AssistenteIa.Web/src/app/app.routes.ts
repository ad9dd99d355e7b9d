import { Routes } from '@angular/router';
import { authGuard } from './auth/auth.guard';
import { SignInPage } from './auth/sign-in.page';
import { NotFoundPage } from './shared/not-found.page';
import { TaskDetailsPage } from './tasks/task-details.page';
import { TasksPage } from './tasks/tasks.page';

export const routes: Routes = [
  { path: '', pathMatch: 'full', redirectTo: 'tasks' },
  { path: 'sign-in', component: SignInPage, title: 'Sign in · AssistenteIa' },
  { path: 'tasks', component: TasksPage, canActivate: [authGuard], title: 'Tasks · AssistenteIa' },
  { path: 'tasks/:id', component: TaskDetailsPage, canActivate: [authGuard], title: 'Task · AssistenteIa' },
  {
    path: 'dashboard',
    // Chart.js loads with the dashboard only.
    loadComponent: () => import('./dashboard/dashboard.page').then(m => m.DashboardPage),
    canActivate: [authGuard],
    title: 'Dashboard · AssistenteIa',
  },
  { path: '**', component: NotFoundPage, title: 'Not found · AssistenteIa' },
];
