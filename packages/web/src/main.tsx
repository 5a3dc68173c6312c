import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter } from 'react-router';
import { ApiError } from './api.ts';
import { App, preloadFirstPage } from './App.tsx';
import { fetchSession, SESSION_KEY, SessionProvider } from './session.tsx';
import './styles.css';

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // 4xx answers are final (not found, forbidden); only network trouble and 5xx are retried.
      retry: (n, err) => n < 2 && !(err instanceof ApiError && err.status >= 400 && err.status < 500),
      refetchOnWindowFocus: false,
    },
  },
});

// The session and the opened page's code load side by side; the first render waits for both (a
// failed session check is the provider's to show), at most 3 s.
const session = queryClient.prefetchQuery({ queryKey: SESSION_KEY, queryFn: fetchSession, staleTime: Infinity, retry: false });
const bothOrTimeout = Promise.race([Promise.all([session, preloadFirstPage()]), new Promise((r) => setTimeout(r, 3000))]);

void bothOrTimeout.then(() => createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      {/* URL changes render at once, not in a transition: inputs bound to the URL (filters, "Show
          deleted") are controlled, and a transition left them showing the old value until it
          committed — a click on a checkbox did not check it (CI's deleted-projects test), typed
          characters could be lost. */}
      <BrowserRouter useTransitions={false}>
        <SessionProvider>
          <App />
        </SessionProvider>
      </BrowserRouter>
    </QueryClientProvider>
  </StrictMode>,
));
